// Colours the heat-map cells of the stats page from their data-colour attribute (the page's
// Content-Security-Policy allows no inline style attributes; setting styles from a script is allowed).
"use strict";
document.querySelectorAll("td[data-colour]").forEach((cell) => {
  cell.style.backgroundColor = cell.dataset.colour;
});
