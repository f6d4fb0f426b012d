// The demo page's "Try" buttons ask the widget a question through its page API: Cortex.ask(text).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-ask]");
  if (button && window.Cortex) window.Cortex.ask(button.getAttribute("data-ask"));
});
