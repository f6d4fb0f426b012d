"""What the bot says when it does not answer from knowledge, in the bot's language (en, es, fr, de).

These are the only sentences the pipeline writes itself; a language the bot has that is not
here gets English.
"""

from __future__ import annotations

from typing import Literal

Reply = Literal["dont_know", "cannot_look_up", "llm_unavailable", "handoff", "budget", "cannot_book"]

REPLIES: dict[str, dict[Reply, str]] = {
    "en": {
        "dont_know": (
            "I'm sorry, I don't have information about that. Would you like me to connect you with a "
            "person from the team, or leave your email so they can follow up?"
        ),
        "cannot_look_up": (
            "I'm sorry, I can't look that up right now. Please try again in a moment, or I can connect "
            "you with a person from the team, or you can leave your email so they can follow up."
        ),
        "llm_unavailable": (
            "I'm sorry, I can't answer right now. Please try again in a moment, or leave your email and "
            "the team will get back to you."
        ),
        "handoff": "A person from the team has joined this conversation and will reply here.",
        "budget": (
            "I can't answer new questions right now because this assistant has used its monthly "
            "allowance. Please leave your email and the team will get back to you."
        ),
        "cannot_book": (
            "I'm sorry, I can't book appointments right now. I can connect you with a person from the "
            "team, or you can leave your email and they will get back to you to find a time."
        ),
    },
    "es": {
        "dont_know": (
            "Lo siento, no tengo información sobre eso. ¿Quieres que te ponga en contacto con una persona "
            "del equipo, o dejar tu correo para que te respondan?"
        ),
        "cannot_look_up": (
            "Lo siento, ahora mismo no puedo consultarlo. Inténtalo de nuevo en un momento, o te pongo en "
            "contacto con una persona del equipo, o deja tu correo para que te respondan."
        ),
        "llm_unavailable": (
            "Lo siento, ahora mismo no puedo responder. Inténtalo de nuevo en un momento, o deja tu correo "
            "y el equipo te responderá."
        ),
        "handoff": "Una persona del equipo se ha unido a esta conversación y te responderá aquí.",
        "budget": (
            "Ahora mismo no puedo responder a nuevas preguntas porque este asistente ha agotado su cupo "
            "mensual. Deja tu correo y el equipo te responderá."
        ),
        "cannot_book": (
            "Lo siento, ahora mismo no puedo reservar citas. Puedo ponerte en contacto con una persona del "
            "equipo, o deja tu correo y te escribirán para buscar una hora."
        ),
    },
    "fr": {
        "dont_know": (
            "Désolé, je n'ai pas d'information à ce sujet. Voulez-vous que je vous mette en relation avec "
            "une personne de l'équipe, ou laisser votre e-mail pour qu'elle vous réponde ?"
        ),
        "cannot_look_up": (
            "Désolé, je ne peux pas le vérifier pour le moment. Réessayez dans un instant, ou je peux vous "
            "mettre en relation avec une personne de l'équipe, ou laissez votre e-mail pour qu'elle vous réponde."
        ),
        "llm_unavailable": (
            "Désolé, je ne peux pas répondre pour le moment. Réessayez dans un instant, ou laissez votre "
            "e-mail et l'équipe vous répondra."
        ),
        "handoff": "Une personne de l'équipe a rejoint cette conversation et vous répondra ici.",
        "budget": (
            "Je ne peux pas répondre à de nouvelles questions pour le moment : cet assistant a épuisé son "
            "quota mensuel. Laissez votre e-mail et l'équipe vous répondra."
        ),
        "cannot_book": (
            "Désolé, je ne peux pas prendre de rendez-vous pour le moment. Je peux vous mettre en relation "
            "avec une personne de l'équipe, ou laissez votre e-mail et elle vous recontactera pour fixer un horaire."
        ),
    },
    "de": {
        "dont_know": (
            "Das tut mir leid, dazu habe ich keine Informationen. Soll ich Sie mit einer Person aus dem Team "
            "verbinden, oder möchten Sie Ihre E-Mail-Adresse hinterlassen, damit man sich meldet?"
        ),
        "cannot_look_up": (
            "Das tut mir leid, ich kann das gerade nicht nachschlagen. Versuchen Sie es gleich noch einmal, "
            "oder ich verbinde Sie mit einer Person aus dem Team, oder Sie hinterlassen Ihre E-Mail-Adresse."
        ),
        "llm_unavailable": (
            "Das tut mir leid, ich kann gerade nicht antworten. Versuchen Sie es gleich noch einmal, oder "
            "hinterlassen Sie Ihre E-Mail-Adresse, und das Team meldet sich."
        ),
        "handoff": "Eine Person aus dem Team ist diesem Gespräch beigetreten und antwortet hier.",
        "budget": (
            "Ich kann gerade keine neuen Fragen beantworten, weil dieser Assistent sein monatliches "
            "Kontingent aufgebraucht hat. Hinterlassen Sie Ihre E-Mail-Adresse, und das Team meldet sich."
        ),
        "cannot_book": (
            "Das tut mir leid, ich kann gerade keine Termine buchen. Ich kann Sie mit einer Person aus dem "
            "Team verbinden, oder Sie hinterlassen Ihre E-Mail-Adresse, und man meldet sich für einen Termin."
        ),
    },
}


def reply(kind: Reply, language: str | None = "en") -> str:
    """The canned reply in the bot's language (`de-AT` uses `de`), English when there is none."""
    base = (language or "en").split("-", 1)[0].lower()
    return REPLIES.get(base, REPLIES["en"])[kind]
