// Enhancements only: every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // The playground's answer is addressable: offer to copy the link for a review comment.
  const answer = document.querySelector("#answer .verdict");
  if (answer && navigator.clipboard) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Copy link to this answer";
    button.addEventListener("click", () => {
      navigator.clipboard.writeText(window.location.href).then(() => {
        button.textContent = "Link copied";
      });
    });
    answer.insertAdjacentElement("afterend", button);
  }
});
