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

field-recovery-code = Recovery code
field-recovery-code-hint = One of the ten codes you saved when you set up your second factor, like 7KQ2M-XW4RT.
field-totp-hint = The 6-digit code your authenticator app shows now.
factor-title = Confirm it is you
factor-lead-totp = Enter the code from your authenticator app.
factor-lead-recovery = Enter one of your recovery codes. Each works once.
factor-submit = Continue
factor-use-recovery = Use a recovery code instead
factor-use-app = Use your authenticator app instead
error-code = That code is not right. Check the app and try the current code.
error-challenge-ended = That took too long or too many codes were wrong. Sign in again.

error-form-title = Something is missing
error-form = The form arrived incomplete. Go back and try again.
error-email = Enter an email address like name@example.com.
check-email-title = Check your email
check-email-spam = The email should arrive within a few minutes. If it does not, look in your spam folder.
signup-title = Create your account
signup-lead = for { $org }
signup-submit = Create account
signup-have-account = Already have an account? Sign in
signup-check-email = We sent a link to { $email }. Open it to confirm your address and finish creating your account.
link-invalid-title = This link does not work
link-invalid = It has expired, was already used, or was copied incompletely.
link-invalid-next = Ask for a new one: sign in, or use "Forgot your password?".
verify-title = Confirm your email address
verify-lead = Press the button to confirm that this address is yours.
verify-submit = Confirm
verified-title = Your address is confirmed
verified = Thank you. You can sign in now.
email-change-title = Confirm your new email address
email-change-lead = Press the button to make this your account's email address.
email-changed-title = Your email address is changed
email-changed = Sign in with your new address from now on.
forgot-title = Forgot your password?
forgot-lead = Enter your email address and we will send you a link to choose a new password.
forgot-submit = Send the link
forgot-check-email = If { $email } has an account, a link to choose a new password is on its way. It works for 30 minutes.
back-to-signin = Back to sign in
reset-title = Choose a new password
reset-lead = After this, you will be signed out everywhere and can sign in with the new password.
reset-submit = Save the new password
reset-done-title = Your password is changed
reset-done = You were signed out on every device. Sign in with your new password.
account-title = Your account
account-factors = Two-step sign-in
account-no-factors = Add an authenticator app so that a stolen password alone is not enough to get into your account.
account-factor-totp = Authenticator app
account-remove = Remove
account-codes-left = { $count ->
    [one] One recovery code left.
   *[other] { $count } recovery codes left.
}
account-new-codes = Make new recovery codes
account-add-totp = Add an authenticator app
account-sessions = Where you are signed in
account-this-device = this device
account-sign-out-device = Sign out
account-sign-out = Sign out of this device
totp-title = Add an authenticator app
totp-lead = Scan this code with an authenticator app (such as Aegis, Google Authenticator or 1Password).
totp-qr-caption = QR code for your authenticator app
totp-manual = Or type this key into the app:
field-factor-name = Name
field-factor-name-hint = So you can tell your apps apart, like "Work phone".
totp-submit = Turn on
back-to-account = Back to your account
codes-title = Save your recovery codes
codes-lead = If you lose your phone, each of these codes lets you sign in once. Keep them somewhere safe, like a password manager or on paper.
codes-once = You will not see these codes again. Making new ones stops these from working.
codes-done = I saved them
notice-factor-added = Your authenticator app is on.
notice-factor-removed = The authenticator app was removed.
notice-session-ended = That device was signed out.
notice-confirmed = Thank you. Now try that again.
stepup-title = Confirm it is you
stepup-lead = For this change we need to check again that it is you.
stepup-code-hint = The 6-digit code from your authenticator app, or one of your recovery codes.
