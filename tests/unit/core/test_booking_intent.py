"""Core's booking rules: which visitor messages hand the turn to workflows' Scheduler, and with what intent."""

from __future__ import annotations

import pytest

from cortex.core.booking import intent_of


@pytest.mark.parametrize(
    "message",
    [
        "I want to book an appointment",
        "Can I book an appointment for tomorrow at 10?",
        "I'd like to schedule a call with someone",
        "Could you book me in for a haircut on Friday?",
        "Do you have any free slots next week?",
        "Do you take appointments on Saturdays?",
        "What's the earliest available appointment?",
        "Are you available tomorrow afternoon?",
        "Can I come in tomorrow at 3pm?",
        "I need an appointment this week",
        "Set up a meeting with your sales team please",
        "Can the bot book appointments?",  # asked about the product: a bot that books offers to
        "Ich möchte einen Termin vereinbaren",
        "Haben Sie morgen Vormittag noch einen Beratungstermin frei?",
        "Kann ich bei Ihnen online buchen?",
        "Je voudrais prendre rendez-vous pour jeudi",
        "Avez-vous un créneau libre demain matin ?",
        "Quisiera reservar una cita para el martes",
        "¿Tienen hueco libre mañana por la tarde?",
    ],
)
def test_wishes_to_book_are_read_as_booking(message: str) -> None:
    assert intent_of(message) == "book"


@pytest.mark.parametrize(
    "message",
    [
        "I need to reschedule my appointment",
        "Can we move my appointment to Friday?",
        "Could I change my booking to 4pm?",
        "Please push back tomorrow's call by an hour",
        "Kann ich meinen Termin am Montag verschieben?",
        "Ich muss umbuchen",
        "Je dois déplacer mon rendez-vous de mardi",
        "Necesito cambiar mi cita a otro día",
        "¿Puedo reprogramar la reserva?",
    ],
)
def test_moves_are_read_as_rescheduling(message: str) -> None:
    assert intent_of(message) == "reschedule"


@pytest.mark.parametrize(
    "message",
    [
        "Please cancel my appointment",
        "I have to cancel my 10am appointment tomorrow",
        "I'd like my booking cancelled",
        "Ich muss meinen Termin leider absagen",
        "Ich möchte die Buchung stornieren",
        "Je voudrais annuler mon rendez-vous",
        "Quiero cancelar mi cita del jueves",
    ],
)
def test_cancellations_are_read_as_cancelling(message: str) -> None:
    assert intent_of(message) == "cancel"


@pytest.mark.parametrize(
    "message",
    [
        "What are your opening hours?",
        "Where is my order?",
        "I want to cancel my subscription",
        "Cancel my order please",
        "How do I change my password?",
        "What is your cancellation policy for appointments?",
        "Do you sell books about cooking?",
        "I'd like to buy a book",
        "What's your schedule for the holidays?",
        "How do I determine the right size?",
        "Is the blue model available in large?",
        "Next time I will bring my receipt",
        "It's my first time here, what do you do?",
        "Good morning! How much is the pro plan?",
        "Ich möchte meine Bestellung stornieren",
        "Je voudrais annuler ma commande",
        "¿Cuál es el horario de la tienda?",
        "Quiero cancelar mi suscripción",
        "Was kostet das Buch?",
    ],
)
def test_other_messages_are_not_about_booking(message: str) -> None:
    assert intent_of(message) is None
