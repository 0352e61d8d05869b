// "Show the passwords": a button that switches the named password fields between hidden and shown.
// Served from our own origin (the CSP allows no inline script); without it the button stays hidden.
document.querySelectorAll("[data-reveal]").forEach(function (button) {
  var fields = button.getAttribute("data-reveal").split(" ").map(function (id) {
    return document.getElementById(id);
  }).filter(Boolean);
  if (!fields.length) return;
  button.closest(".reveal").hidden = false;
  button.addEventListener("click", function () {
    var show = button.getAttribute("aria-pressed") !== "true";
    fields.forEach(function (field) { field.type = show ? "text" : "password"; });
    button.setAttribute("aria-pressed", show ? "true" : "false");
    button.textContent = button.getAttribute(show ? "data-hide" : "data-show");
  });
});
