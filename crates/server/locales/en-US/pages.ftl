# The hosted pages' messages (English). Keys are shared with every other language.
skip-to-content = Skip to content
footer-help = Need help? Contact support
field-email = Email address
field-password = Password
field-new-password = New password
field-new-password-hint = At least 12 characters. A passphrase of a few unrelated words is easiest to remember.
field-name = Your name
field-code = Code

signin-title = Sign in
signin-lead = to continue to { $client }
signin-lead-plain = with your { $org } account
signin-submit = Sign in
signin-forgot = Forgot your password?
signin-create = Create an account

error-credentials = The email address or password is not correct.
error-rate-limited = Too many attempts. Try again in { $minutes ->
    [one] one minute
   *[other] { $minutes } minutes
}.
error-busy = We are very busy right now. Try again in a few seconds.
error-unavailable = This account cannot sign in right now. Contact support if you think this is a mistake.
error-generic = Something went wrong on our side. Please try again in a moment.
error-csrf-title = Please try again
error-csrf = This form expired or was sent from another site. Go back to the page you came from and start again.
error-request-title = This sign-in link is not valid
error-request-next = Go back to the site you came from and try again. If it keeps happening, contact its support.
error-notfound-title = Page not found
error-notfound = There is nothing at this address.

logout-title = Sign out?
logout-lead = Do you want to sign out of { $org }?
logout-lead-client = { $client } asks you to sign out of { $org }.
logout-submit = Sign out
logout-cancel = Stay signed in
logout-done-title = You are signed out
logout-done = You can close this window.
logout-kept-title = You are still signed in
logout-kept = Nothing was changed. You can close this window.
