// The IdP's pages: plain server-rendered HTML with a little inline CSS and no external resources.

const STYLE = `
  body { margin: 0; min-height: 100vh; display: grid; place-items: center;
         font: 16px/1.5 system-ui, sans-serif; color: #1f2328; background: #f4f1ea; }
  main { width: min(22rem, 100vw - 2rem); padding: 2rem; border-radius: 12px;
         background: #fff; box-shadow: 0 2px 12px rgb(0 0 0 / 12%); }
  h1 { margin: 0 0 1rem; font-size: 1.4rem; }
  label { display: block; margin-top: .75rem; font-weight: 600; }
  input { box-sizing: border-box; width: 100%; padding: .5rem; font: inherit;
          border: 1px solid #c8c3b8; border-radius: 6px; }
  button { width: 100%; margin-top: 1.25rem; padding: .6rem; font: inherit; font-weight: 600;
           color: #fff; background: #5d34f2; border: 0; border-radius: 6px; cursor: pointer; }
  .note { padding: .5rem .75rem; background: #eef; border-radius: 6px; }
  .error { padding: .5rem .75rem; color: #8a1c1c; background: #fdecec; border-radius: 6px; }
  .switch { margin: 1.25rem 0 0; text-align: center; }
`;

/** HTML that is inserted as it is, not escaped. */
class Html {
  constructor(text) {
    this.text = text;
  }
}

/** Marks trusted markup, such as the form oidc-provider hands to the logout page. */
const raw = (text) => new Html(text);

/** A template tag that escapes every interpolated value except `raw` markup and nested `html`. */
function html(strings, ...values) {
  return raw(strings.reduce((out, string, i) => out + render(values[i - 1]) + string));
}

function render(value) {
  if (value instanceof Html) return value.text;
  if (value === undefined || value === null || value === false) return '';
  return String(value).replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function page({ title, lang = 'en', body, script }) {
  return html`<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Bookstore dev IdP</title>
<style>${raw(STYLE)}</style>
</head>
<body>
<main>
${body}
</main>
${script && html`<script src="${script}"></script>`}
</body>
</html>
`.text;
}

export function signInPage({
  uid, lang, username, error, socialProvider, emailCodeAddress,
}) {
  return page({
    title: 'Sign in',
    lang,
    body: html`<h1>Sign in to Bookstore</h1>
${socialProvider && html`<p class="note">Logto would continue with ${socialProvider} here.
  This dev IdP has no social sign-in, so use a password instead.</p>`}
${emailCodeAddress && html`<p class="note">Logto would email a one-time code to ${emailCodeAddress}
  here. This dev IdP sends no email, so enter the password instead.</p>`}
${error && html`<p class="error" role="alert">${error}</p>`}
<form method="post" action="/interaction/${uid}/login">
  <label for="username">Username or email</label>
  <input id="username" name="username" value="${username}" autocomplete="username"
    required autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
<p class="switch">No account yet? <a href="/interaction/${uid}/register">Create account</a></p>`,
  });
}

export function registerPage({ uid, lang, username, name, error }) {
  return page({
    title: 'Create account',
    lang,
    body: html`<h1>Create account</h1>
${error && html`<p class="error" role="alert">${error}</p>`}
<form method="post" action="/interaction/${uid}/register">
  <label for="username">Username</label>
  <input id="username" name="username" value="${username}" autocomplete="username"
    required autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="new-password" required>
  <label for="name">Name</label>
  <input id="name" name="name" value="${name}" autocomplete="name">
  <button type="submit">Create account</button>
</form>
<p class="switch">Already have an account? <a href="/interaction/${uid}/login">Sign in</a></p>`,
  });
}

/**
 * The end-session confirmation. Like Logto's, it submits itself (ending the whole IdP
 * session: `logout=yes`); the button is there for browsers without JavaScript.
 */
export function signOutPage(form) {
  return page({
    title: 'Sign out',
    body: html`<h1>Signing you out…</h1>
${raw(form)}
<input type="hidden" form="op.logoutForm" name="logout" value="yes">
<button type="submit" form="op.logoutForm">Sign out</button>`,
    script: '/assets/sign-out.js',
  });
}

/** Shown after a sign-out that named no post-logout redirect URI. */
export function signedOutPage() {
  return page({ title: 'Signed out', body: html`<h1>You are signed out</h1>` });
}

export function errorPage({ title, message }) {
  return page({ title, body: html`<h1>${title}</h1><p>${message}</p>` });
}
