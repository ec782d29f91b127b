// The portal's only script: passkey buttons. Each <button data-passkey="register|second-factor|passwordless">
// fetches options from the JSON API, asks the browser (navigator.credentials), and posts the answer back.
"use strict";
(function () {
  var routes = {
    register: ["/users/me/webauthn/register/options", "/users/me/webauthn/register", "create"],
    "second-factor": ["/users/login/mfa/webauthn/options", "/users/login/mfa/webauthn", "get"],
    passwordless: ["/users/login/webauthn/options", "/users/login/webauthn", "get"],
  };

  function bytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(base64 + "===".slice((base64.length + 3) % 4));
    return Uint8Array.from(raw, function (c) { return c.charCodeAt(0); });
  }

  function text(buffer) {
    var raw = String.fromCharCode.apply(null, new Uint8Array(buffer));
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: bytes(c.id) }); });
  }

  function publicKey(options, kind) {
    var key = Object.assign({}, options, { challenge: bytes(options.challenge) });
    if (kind === "create") {
      key.user = Object.assign({}, options.user, { id: bytes(options.user.id) });
      key.excludeCredentials = descriptors(options.excludeCredentials);
    } else {
      key.allowCredentials = descriptors(options.allowCredentials);
    }
    return key;
  }

  function answer(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    var r = credential.response, response = { clientDataJSON: text(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = text(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = text(r.authenticatorData);
      response.signature = text(r.signature);
      if (r.userHandle) response.userHandle = text(r.userHandle);
    }
    return { id: credential.id, rawId: text(credential.rawId), type: credential.type, response: response,
             clientExtensionResults: credential.getClientExtensionResults(),
             authenticatorAttachment: credential.authenticatorAttachment || undefined };
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (!response.ok) throw new Error(refusal(json.detail));
        return json;
      });
    });
  }

  // The JSON routes explain a refusal in English: an English page shows why, another the page's own words.
  function refusal(detail) {
    var message = document.getElementById("passkey-message");
    var own = message ? message.dataset.refused : "The passkey was not accepted.";
    return document.documentElement.lang === "en" && detail ? detail : own;
  }

  function run(button) {
    var route = routes[button.dataset.passkey], message = document.getElementById("passkey-message");
    var name = document.getElementById("passkey-name");
    var proof = {};  // adding a passkey asks the password (and, for an old session, a code) first
    if (route[2] === "create") {
      var password = document.getElementById("passkey-password"), code = document.getElementById("passkey-code");
      proof.password = password ? password.value : "";
      if (code && code.value) proof.code = code.value.trim();
    }
    if (message) message.hidden = true;
    button.disabled = true;
    post(route[0], proof)
      .then(function (options) {
        return navigator.credentials[route[2]]({ publicKey: publicKey(options, route[2]) });
      })
      .then(function (credential) {
        var body = { credential: answer(credential) };
        if (route[2] === "create") body.name = name && name.value ? name.value : "Passkey";
        return post(route[1], body);
      })
      .then(function () { window.location.assign(button.dataset.next || window.location.href); })
      .catch(function (error) {
        button.disabled = false;
        if (message) {
          message.textContent = error && error.name === "NotAllowedError"
            ? message.dataset.cancelled : String(error && error.message || error);
          message.hidden = false;
        }
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("button[data-passkey]");
    if (!window.PublicKeyCredential) return;  // the buttons stay hidden: this browser has no passkeys
    Array.prototype.forEach.call(buttons, function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { run(button); });
    });
  });
})();
