// The customer's signature on the signing page (/s/{token}): a key made here, with WebCrypto, that never leaves
// the browser. generateKey(..., false, ["sign"]) makes the private key non-extractable: no script, not even this
// one, can export it. The steps, each a POST with the form's CSRF token, each bound by the server to this
// browser session:
//   confirm (the one-time code) -> challenge -> sign it with the new key (proof of possession) -> certificate
//   (the key's SPKI) -> prepare (the signed attributes to sign) -> sign them -> finish (raw r||s) -> done page.
// No inline script: the page's Content-Security-Policy allows only scripts from this site.
(function () {
  "use strict";
  var form = document.getElementById("sign-form");
  if (!form) { return; }
  var base = form.getAttribute("data-base");
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var button = document.getElementById("sign");
  var status = document.getElementById("sign-status");
  var codeError = document.getElementById("code-error");
  var ECDSA_KEY = { name: "ECDSA", namedCurve: "P-256" };
  var ECDSA_SIGN = { name: "ECDSA", hash: "SHA-256" };

  function word(name) { return form.getAttribute("data-word-" + name) || name; }
  function say(text) { status.textContent = text; }
  function fail(text) {
    codeError.textContent = text;
    codeError.hidden = false;
    say("");
    button.disabled = false;
  }
  function toBase64(buffer) {
    var bytes = new Uint8Array(buffer), text = "";
    for (var i = 0; i < bytes.length; i += 1) { text += String.fromCharCode(bytes[i]); }
    return window.btoa(text);
  }
  function fromBase64(text) {
    var raw = window.atob(text), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }
  function field(name) {
    var node = document.querySelector("#code-form [name=" + name + "]");
    if (!node) { return ""; }
    if (node.type === "checkbox") { return node.checked ? "yes" : ""; }
    return node.value;
  }

  // One step: a form-encoded POST, a JSON answer; a refusal carries the page's words in "error".
  async function step(name, fields) {
    var body = new URLSearchParams(fields || {});
    body.set("csrf_token", csrf);
    var response;
    try {
      response = await window.fetch(base + "/" + name, {
        method: "POST", body: body, credentials: "same-origin", cache: "no-store",
        headers: { accept: "application/json" }
      });
    } catch (e) {
      throw { error: word("network") };
    }
    var answer = await response.json().catch(function () { return { error: response.statusText }; });
    if (!response.ok) { answer.status = response.status; throw answer; }
    return answer;
  }

  async function sign() {
    if (!window.crypto || !window.crypto.subtle) { throw { error: word("no-webcrypto") }; }
    var subtle = window.crypto.subtle;
    say(word("confirm"));
    await step("confirm", { code: document.getElementById("code").value.trim() });
    say(word("key"));
    var keys = await subtle.generateKey(ECDSA_KEY, false, ["sign"]);
    var spki = await subtle.exportKey("spki", keys.publicKey);
    var challenge = fromBase64((await step("challenge")).challenge);
    var proof = await subtle.sign(ECDSA_SIGN, keys.privateKey, challenge);
    say(word("certificate"));
    await step("certificate", {
      public_key: toBase64(spki), proof: toBase64(proof), signatory_name: field("signatory_name"),
      signatory_title: field("signatory_title"), agree: field("agree")
    });
    say(word("prepare"));
    var toSign = fromBase64((await step("prepare")).to_sign);
    say(word("sign"));
    var signature = await subtle.sign(ECDSA_SIGN, keys.privateKey, toSign);
    say(word("finish"));
    var outcome = await step("finish", { signature: toBase64(signature) });
    if (!outcome.accepted) { throw { error: outcome.reason }; }
    window.location.assign(outcome.next);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    codeError.hidden = true;
    button.disabled = true;
    sign().catch(function (problem) {
      if (problem && problem.status === 410) { window.location.reload(); return; }
      fail((problem && problem.error) || String(problem));
    });
  });
  button.disabled = false;
}());
