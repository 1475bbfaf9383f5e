// The hosted pages' one script: passkeys (WebAuthn). On the sign-in page it offers the
// browser's passkeys in the email field's autofill (conditional mediation) and behind a
// button; on the "create a passkey" page it makes one. The options come from the server
// (a fresh, single-use ceremony for every try) and the answer goes back in an ordinary form
// post, so errors are ordinary pages. Without WebAuthn the passkey parts stay hidden and the
// rest of the page works as before. No library, nothing from another origin.
(() => {
  "use strict";
  const PKC = window.PublicKeyCredential;
  const box = document.getElementById("passkey");
  if (!box || !PKC || !PKC.parseRequestOptionsFromJSON || !PKC.parseCreationOptionsFromJSON) {
    return;
  }
  const form = document.getElementById("passkey-form");
  const status = document.getElementById("passkey-status");
  const button = document.getElementById("passkey-button");
  box.hidden = false;
  const unsupported = document.getElementById("passkey-unsupported");
  if (unsupported) unsupported.hidden = true;
  const failed = () => {
    status.textContent = box.dataset.failed;
    button.disabled = false;
  };
  const send = (ceremony, credential) => {
    form.elements.ceremony.value = ceremony;
    form.elements.credential.value = JSON.stringify(credential.toJSON());
    form.submit();
  };

  if (box.dataset.mode === "register") {
    const options = JSON.parse(box.dataset.options);
    // Enter in the name field means "make it", not "post an empty answer".
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      button.click();
    });
    button.addEventListener("click", async () => {
      button.disabled = true;
      status.textContent = "";
      try {
        const publicKey = PKC.parseCreationOptionsFromJSON(options.publicKey);
        send(box.dataset.ceremony, await navigator.credentials.create({ publicKey }));
      } catch (e) {
        failed();
      }
    });
    return;
  }

  const ceremony = async () => {
    const body = new URLSearchParams({ csrf: form.elements.csrf.value });
    const r = await fetch(box.dataset.begin, { method: "POST", body });
    if (!r.ok) throw new Error(String(r.status));
    return r.json();
  };
  let autofill = null;
  const ask = async (mediation) => {
    const c = await ceremony();
    const abort = new AbortController();
    const request = {
      publicKey: PKC.parseRequestOptionsFromJSON(c.options.publicKey),
      signal: abort.signal,
    };
    if (mediation) request.mediation = mediation;
    const answer = navigator.credentials.get(request).then((cred) => send(c.ceremony, cred));
    return { abort, answer };
  };
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "";
    if (autofill) autofill.abort.abort();
    autofill = null;
    try {
      await (await ask(null)).answer;
    } catch (e) {
      failed();
    }
  });
  if (PKC.isConditionalMediationAvailable) {
    PKC.isConditionalMediationAvailable().then(async (yes) => {
      if (!yes) return;
      try {
        autofill = await ask("conditional");
        await autofill.answer;
      } catch (e) {
        // Aborted for the button, or the customer typed a password instead.
      }
    });
  }
})();
