// Shows the "not accepted" line after a failed login (?failed=1).
if (new URLSearchParams(location.search).has("failed")) {
  document.getElementById("failed").hidden = false;
}
