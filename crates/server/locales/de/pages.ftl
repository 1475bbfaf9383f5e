# Die Meldungen der gehosteten Seiten (Deutsch).
skip-to-content = Zum Inhalt springen
footer-help = Hilfe nötig? Support kontaktieren
field-email = E-Mail-Adresse
field-password = Passwort
field-new-password = Neues Passwort
field-new-password-hint = Mindestens 12 Zeichen. Eine Passphrase aus ein paar zusammenhanglosen Wörtern merkt man sich am leichtesten.
field-name = Ihr Name
field-code = Code

signin-title = Anmelden
signin-lead = um mit { $client } fortzufahren
signin-lead-plain = mit Ihrem { $org }-Konto
signin-submit = Anmelden
signin-forgot = Passwort vergessen?
signin-create = Konto erstellen

error-credentials = Die E-Mail-Adresse oder das Passwort ist nicht korrekt.
error-rate-limited = Zu viele Versuche. Versuchen Sie es in { $minutes ->
    [one] einer Minute
   *[other] { $minutes } Minuten
} erneut.
error-busy = Wir sind gerade sehr ausgelastet. Versuchen Sie es in ein paar Sekunden erneut.
error-unavailable = Mit diesem Konto ist derzeit keine Anmeldung möglich. Wenden Sie sich an den Support, falls Sie das für einen Fehler halten.
error-generic = Bei uns ist etwas schiefgelaufen. Bitte versuchen Sie es gleich noch einmal.
error-csrf-title = Bitte erneut versuchen
error-csrf = Dieses Formular ist abgelaufen oder wurde von einer anderen Website gesendet. Gehen Sie zurück zur vorherigen Seite und beginnen Sie erneut.
error-request-title = Dieser Anmeldelink ist ungültig
error-request-next = Gehen Sie zurück zu der Website, von der Sie kamen, und versuchen Sie es erneut. Wenn es wieder passiert, wenden Sie sich an deren Support.
error-notfound-title = Seite nicht gefunden
error-notfound = Unter dieser Adresse gibt es nichts.

logout-title = Abmelden?
logout-lead = Möchten Sie sich von { $org } abmelden?
logout-lead-client = { $client } möchte Sie von { $org } abmelden.
logout-submit = Abmelden
logout-cancel = Angemeldet bleiben
logout-done-title = Sie sind abgemeldet
logout-done = Sie können dieses Fenster schließen.
logout-kept-title = Sie sind weiterhin angemeldet
logout-kept = Es wurde nichts geändert. Sie können dieses Fenster schließen.
