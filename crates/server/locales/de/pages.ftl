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

field-recovery-code = Wiederherstellungscode
field-recovery-code-hint = Einer der zehn Codes, die Sie beim Einrichten Ihres zweiten Faktors gespeichert haben, etwa 7KQ2M-XW4RT.
field-totp-hint = Der 6-stellige Code, den Ihre Authenticator-App gerade anzeigt.
factor-title = Bestätigen Sie, dass Sie es sind
factor-lead-totp = Geben Sie den Code aus Ihrer Authenticator-App ein.
factor-lead-recovery = Geben Sie einen Ihrer Wiederherstellungscodes ein. Jeder funktioniert einmal.
factor-submit = Weiter
factor-use-recovery = Stattdessen einen Wiederherstellungscode verwenden
factor-use-app = Stattdessen die Authenticator-App verwenden
error-code = Dieser Code ist nicht richtig. Prüfen Sie die App und geben Sie den aktuellen Code ein.
error-challenge-ended = Das hat zu lange gedauert oder es wurden zu viele falsche Codes eingegeben. Melden Sie sich erneut an.

error-form-title = Es fehlt etwas
error-form = Das Formular ist unvollständig angekommen. Gehen Sie zurück und versuchen Sie es erneut.
error-email = Geben Sie eine E-Mail-Adresse wie name@example.com ein.
check-email-title = Sehen Sie in Ihr Postfach
check-email-spam = Die E-Mail sollte in wenigen Minuten ankommen. Falls nicht, sehen Sie im Spam-Ordner nach.
signup-title = Konto erstellen
signup-lead = für { $org }
signup-submit = Konto erstellen
signup-have-account = Sie haben schon ein Konto? Anmelden
signup-check-email = Wir haben einen Link an { $email } geschickt. Öffnen Sie ihn, um Ihre Adresse zu bestätigen und Ihr Konto fertig einzurichten.
link-invalid-title = Dieser Link funktioniert nicht
link-invalid = Er ist abgelaufen, wurde schon benutzt oder wurde unvollständig kopiert.
link-invalid-next = Fordern Sie einen neuen an: Melden Sie sich an oder nutzen Sie „Passwort vergessen?“.
verify-title = E-Mail-Adresse bestätigen
verify-lead = Drücken Sie die Schaltfläche, um zu bestätigen, dass diese Adresse Ihnen gehört.
verify-submit = Bestätigen
verified-title = Ihre Adresse ist bestätigt
verified = Vielen Dank. Sie können sich jetzt anmelden.
email-change-title = Neue E-Mail-Adresse bestätigen
email-change-lead = Drücken Sie die Schaltfläche, um diese Adresse zur E-Mail-Adresse Ihres Kontos zu machen.
email-changed-title = Ihre E-Mail-Adresse ist geändert
email-changed = Melden Sie sich ab jetzt mit Ihrer neuen Adresse an.
forgot-title = Passwort vergessen?
forgot-lead = Geben Sie Ihre E-Mail-Adresse ein. Wir schicken Ihnen einen Link, mit dem Sie ein neues Passwort wählen können.
forgot-submit = Link senden
forgot-check-email = Falls { $email } ein Konto hat, ist ein Link zum Wählen eines neuen Passworts unterwegs. Er gilt 30 Minuten.
back-to-signin = Zurück zur Anmeldung
reset-title = Neues Passwort wählen
reset-lead = Danach werden Sie überall abgemeldet und können sich mit dem neuen Passwort anmelden.
reset-submit = Neues Passwort speichern
reset-done-title = Ihr Passwort ist geändert
reset-done = Sie wurden auf allen Geräten abgemeldet. Melden Sie sich mit Ihrem neuen Passwort an.
account-title = Ihr Konto
account-factors = Anmeldung in zwei Schritten
account-no-factors = Fügen Sie eine Authenticator-App hinzu, damit ein gestohlenes Passwort allein nicht reicht, um in Ihr Konto zu gelangen.
account-factor-totp = Authenticator-App
account-remove = Entfernen
account-codes-left = { $count ->
    [one] Noch ein Wiederherstellungscode.
   *[other] Noch { $count } Wiederherstellungscodes.
}
account-new-codes = Neue Wiederherstellungscodes erstellen
account-add-totp = Authenticator-App hinzufügen
account-sessions = Wo Sie angemeldet sind
account-this-device = dieses Gerät
account-sign-out-device = Abmelden
account-sign-out = Auf diesem Gerät abmelden
totp-title = Authenticator-App hinzufügen
totp-lead = Scannen Sie diesen Code mit einer Authenticator-App (etwa Aegis, Google Authenticator oder 1Password).
totp-qr-caption = QR-Code für Ihre Authenticator-App
totp-manual = Oder geben Sie diesen Schlüssel in der App ein:
field-factor-name = Name
field-factor-name-hint = Damit Sie Ihre Apps unterscheiden können, etwa „Diensthandy“.
totp-submit = Einschalten
back-to-account = Zurück zu Ihrem Konto
codes-title = Speichern Sie Ihre Wiederherstellungscodes
codes-lead = Wenn Sie Ihr Handy verlieren, können Sie sich mit jedem dieser Codes einmal anmelden. Bewahren Sie sie sicher auf, etwa in einem Passwortmanager oder auf Papier.
codes-once = Sie sehen diese Codes nicht noch einmal. Neue Codes machen diese ungültig.
codes-done = Ich habe sie gespeichert
notice-factor-added = Ihre Authenticator-App ist eingeschaltet.
notice-factor-removed = Die Authenticator-App wurde entfernt.
notice-session-ended = Dieses Gerät wurde abgemeldet.
notice-confirmed = Vielen Dank. Versuchen Sie es jetzt noch einmal.
stepup-title = Bestätigen Sie, dass Sie es sind
stepup-lead = Für diese Änderung prüfen wir noch einmal, dass Sie es sind.
stepup-code-hint = Der 6-stellige Code aus Ihrer Authenticator-App oder einer Ihrer Wiederherstellungscodes.
