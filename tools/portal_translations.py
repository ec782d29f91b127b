"""The portal's German and French texts, written into authsvc/web/pages/locales/<lang>/LC_MESSAGES/portal.po.

`make messages` runs this and compiles the catalogues; tests/unit/test_portal_i18n.py checks that every text the
templates mark has a translation in each catalogue and that the shipped .mo files match the .po files. English is
the templates' own text. Titles and messages the handlers pass in (marked N_, gettext, ngettext) are listed here
too, and what the services say that a page shows (authsvc.web.edge.i18n.localize translates it when rendered).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

STAMP = datetime(2026, 12, 7, tzinfo=UTC)  # fixed: regenerating changes no line that did not change
LOCALES = Path(__file__).resolve().parent.parent / "authsvc" / "web" / "pages" / "locales"

TEXTS: dict[str, tuple[str, str]] = {
    # msgid: (German, French)
    "Password": ("Passwort", "Mot de passe"),
    "Code from your app (needed when you signed in a while ago)": (
        "Code aus Ihrer App (nötig, wenn Ihre Anmeldung länger her ist)",
        "Code de votre application (nécessaire si vous vous êtes connecté il y a un moment)",
    ),
    "Signed in as": ("Angemeldet als", "Connecté en tant que"),
    "Email address": ("E-Mail-Adresse", "Adresse e-mail"),
    "Send the link again": ("Link erneut senden", "Renvoyer le lien"),
    "No address yet: without one, a forgotten password cannot be reset.": (
        "Noch keine Adresse: ohne sie lässt sich ein vergessenes Passwort nicht zurücksetzen.",
        "Pas encore d'adresse : sans elle, un mot de passe oublié ne peut pas être réinitialisé.",
    ),
    "Mail me a link to verify it": ("Bestätigungslink senden", "M'envoyer un lien de vérification"),
    "Change the password": ("Passwort ändern", "Changer le mot de passe"),
    "Current password": ("Aktuelles Passwort", "Mot de passe actuel"),
    "New password": ("Neues Passwort", "Nouveau mot de passe"),
    "Where you are signed in": ("Wo Sie angemeldet sind", "Où vous êtes connecté"),
    "this browser": ("dieser Browser", "ce navigateur"),
    "End every other session": ("Alle anderen Sitzungen beenden", "Fermer toutes les autres sessions"),
    "End every session but this one": (
        "Alle Sitzungen außer dieser beenden",
        "Fermer toutes les sessions sauf celle-ci",
    ),
    "Authenticator app": ("Authenticator-App", "Application d'authentification"),
    "An authenticator app is set up. Recovery codes left:": (
        "Eine Authenticator-App ist eingerichtet. Verbleibende Wiederherstellungscodes:",
        "Une application d'authentification est configurée. Codes de récupération restants :",
    ),
    "New recovery codes": ("Neue Wiederherstellungscodes", "Nouveaux codes de récupération"),
    "The codes you have now stop working.": (
        "Ihre bisherigen Codes werden ungültig.",
        "Vos codes actuels cesseront de fonctionner.",
    ),
    "Make new recovery codes": ("Neue Codes erstellen", "Créer de nouveaux codes"),
    "Remove the authenticator app": ("Authenticator-App entfernen", "Supprimer l'application d'authentification"),
    "No authenticator app is set up.": (
        "Keine Authenticator-App eingerichtet.",
        "Aucune application d'authentification n'est configurée.",
    ),
    "Add an authenticator app": ("Authenticator-App hinzufügen", "Ajouter une application d'authentification"),
    "Passkeys": ("Passkeys", "Clés d'accès"),
    "No passkey yet.": ("Noch kein Passkey.", "Pas encore de clé d'accès."),
    "Add a passkey": ("Passkey hinzufügen", "Ajouter une clé d'accès"),
    "Name for the new passkey": ("Name des neuen Passkeys", "Nom de la nouvelle clé d'accès"),
    "Delete the account": ("Konto löschen", "Supprimer le compte"),
    "Delete my account": ("Mein Konto löschen", "Supprimer mon compte"),
    "Your account, its sessions, its second factors and its address are gone for good.": (
        "Ihr Konto, seine Sitzungen, zweiten Faktoren und seine Adresse sind endgültig weg.",
        "Votre compte, ses sessions, ses seconds facteurs et son adresse disparaissent définitivement.",
    ),
    "Sign out": ("Abmelden", "Se déconnecter"),
    "Sign in": ("Anmelden", "Se connecter"),
    "Back to sign-in": ("Zurück zur Anmeldung", "Retour à la connexion"),
    "Username or email address": ("Benutzername oder E-Mail-Adresse", "Nom d'utilisateur ou adresse e-mail"),
    "Mail me a link": ("Link per E-Mail senden", "M'envoyer un lien"),
    "Username": ("Benutzername", "Nom d'utilisateur"),
    "Keep me signed in": ("Angemeldet bleiben", "Rester connecté"),
    "Forgot password?": ("Passwort vergessen?", "Mot de passe oublié ?"),
    "No account?": ("Kein Konto?", "Pas de compte ?"),
    "Create one": ("Jetzt erstellen", "En créer un"),
    "Code from your authenticator app, or a recovery code": (
        "Code aus Ihrer Authenticator-App oder ein Wiederherstellungscode",
        "Code de votre application d'authentification, ou un code de récupération",
    ),
    "Verify": ("Bestätigen", "Vérifier"),
    "Use a passkey": ("Passkey verwenden", "Utiliser une clé d'accès"),
    "Start again": ("Neu beginnen", "Recommencer"),
    "Sign in with a passkey": ("Mit Passkey anmelden", "Se connecter avec une clé d'accès"),
    "Keep these recovery codes somewhere safe: each signs in once in place of a code, and they are shown only now.": (
        "Bewahren Sie diese Wiederherstellungscodes sicher auf: Jeder ersetzt einmal einen Code bei der Anmeldung,"
        " und sie werden nur jetzt angezeigt.",
        "Conservez ces codes de récupération en lieu sûr : chacun remplace une fois un code à la connexion,"
        " et ils ne sont affichés que maintenant.",
    ),
    "Download as a text file": ("Als Textdatei herunterladen", "Télécharger en fichier texte"),
    "Done": ("Fertig", "Terminé"),
    "You are signed in as": ("Sie sind angemeldet als", "Vous êtes connecté en tant que"),
    "Continue": ("Weiter", "Continuer"),
    "Your account": ("Ihr Konto", "Votre compte"),
    "Create account": ("Konto erstellen", "Créer le compte"),
    "Have an account?": ("Schon ein Konto?", "Déjà un compte ?"),
    "Scan this code with your authenticator app, or type the key in.": (
        "Scannen Sie diesen Code mit Ihrer Authenticator-App oder geben Sie den Schlüssel ein.",
        "Scannez ce code avec votre application d'authentification, ou saisissez la clé.",
    ),
    "Key:": ("Schlüssel:", "Clé :"),
    "The code the app shows now": ("Der Code, den die App jetzt zeigt", "Le code que l'application affiche"),
    "Confirm": ("Bestätigen", "Confirmer"),
    "Cancel": ("Abbrechen", "Annuler"),
    "member since": ("Mitglied seit", "membre depuis"),
    "verified": ("bestätigt", "vérifiée"),
    "not verified yet": ("noch nicht bestätigt", "pas encore vérifiée"),
    "Change the address": ("Adresse ändern", "Changer l'adresse"),
    "Add an address": ("Adresse hinzufügen", "Ajouter une adresse"),
    "last seen": ("zuletzt gesehen", "vu pour la dernière fois"),
    "Sign out here": ("Hier abmelden", "Se déconnecter ici"),
    "End this session": ("Diese Sitzung beenden", "Fermer cette session"),
    "Remove %(name)s": ("%(name)s entfernen", "Supprimer %(name)s"),
    # Titles and messages the handlers pass in.
    "Create an account": ("Konto erstellen", "Créer un compte"),
    "Second factor": ("Zweiter Faktor", "Second facteur"),
    "Forgot your password?": ("Passwort vergessen?", "Mot de passe oublié ?"),
    "Check your mail": ("Sehen Sie in Ihr Postfach", "Consultez vos e-mails"),
    "Choose a new password": ("Neues Passwort wählen", "Choisissez un nouveau mot de passe"),
    "Verify your email address": ("E-Mail-Adresse bestätigen", "Vérifiez votre adresse e-mail"),
    "Password changed": ("Passwort geändert", "Mot de passe changé"),
    "Address verified": ("Adresse bestätigt", "Adresse vérifiée"),
    "Recovery codes": ("Wiederherstellungscodes", "Codes de récupération"),
    "Account deleted": ("Konto gelöscht", "Compte supprimé"),
    "Not me": ("Das war ich nicht", "Ce n'était pas moi"),
    "Sessions ended": ("Sitzungen beendet", "Sessions fermées"),
    "Set the password": ("Passwort setzen", "Définir le mot de passe"),
    "End every session": ("Alle Sitzungen beenden", "Fermer toutes les sessions"),
    "Invalid username or password.": (
        "Benutzername oder Passwort ist falsch.",
        "Nom d'utilisateur ou mot de passe incorrect.",
    ),
    "The form expired or did not come from this page. Please try again.": (
        "Das Formular ist abgelaufen oder stammt nicht von dieser Seite. Bitte versuchen Sie es erneut.",
        "Le formulaire a expiré ou ne provient pas de cette page. Veuillez réessayer.",
    ),
    "Your email address is verified.": ("Ihre E-Mail-Adresse ist bestätigt.", "Votre adresse e-mail est vérifiée."),
    "Signed in": ("Angemeldet", "Connecté"),
    "Email address (optional: to reset a forgotten password)": (
        "E-Mail-Adresse (optional: um ein vergessenes Passwort zurückzusetzen)",
        "Adresse e-mail (facultative : pour réinitialiser un mot de passe oublié)",
    ),
    "We mail a link to verify it.": (
        "Wir senden einen Link, um sie zu bestätigen.",
        "Nous envoyons un lien pour la vérifier.",
    ),
    "%(min)s to %(max)s characters: letters a-z, digits and %(symbols)s": (
        "%(min)s bis %(max)s Zeichen: Buchstaben a-z, Ziffern und %(symbols)s",
        "%(min)s à %(max)s caractères : lettres a-z, chiffres et %(symbols)s",
    ),
    "At least %(min)s characters; not a common password.": (
        "Mindestens %(min)s Zeichen; kein gängiges Passwort.",
        "Au moins %(min)s caractères ; pas un mot de passe courant.",
    ),
    "Please fix the fields below.": (
        "Bitte korrigieren Sie die Felder unten.",
        "Veuillez corriger les champs ci-dessous.",
    ),
    "An email address is required.": ("Eine E-Mail-Adresse ist erforderlich.", "Une adresse e-mail est requise."),
    "Enter the address we may mail a link to.": (
        "Geben Sie die Adresse ein, an die wir einen Link senden dürfen.",
        "Saisissez l'adresse à laquelle nous pouvons envoyer un lien.",
    ),
    "Your account is ready, but signing you in failed for now. Please sign in in a moment.": (
        "Ihr Konto ist bereit, aber die Anmeldung ist vorerst fehlgeschlagen. Bitte melden Sie sich gleich an.",
        "Votre compte est prêt, mais la connexion a échoué pour l'instant. Veuillez vous connecter dans un instant.",
    ),
    "Your account is ready. Open the link we mailed to your address to verify it, then sign in.": (
        "Ihr Konto ist bereit. Öffnen Sie den Link, den wir an Ihre Adresse gesendet haben, um sie zu bestätigen,"
        " und melden Sie sich dann an.",
        "Votre compte est prêt. Ouvrez le lien envoyé à votre adresse pour la vérifier, puis connectez-vous.",
    ),
    "That code is not valid. Please try again.": (
        "Dieser Code ist ungültig. Bitte versuchen Sie es erneut.",
        "Ce code n'est pas valide. Veuillez réessayer.",
    ),
    "Your sign-in expired. Please sign in again.": (
        "Ihre Anmeldung ist abgelaufen. Bitte melden Sie sich erneut an.",
        "Votre connexion a expiré. Veuillez vous reconnecter.",
    ),
    "Too many failed sign-ins. Try again in %(wait)s.": (
        "Zu viele fehlgeschlagene Anmeldungen. Versuchen Sie es in %(wait)s erneut.",
        "Trop de connexions échouées. Réessayez dans %(wait)s.",
    ),
    "Too many failed attempts. Try again in %(wait)s.": (
        "Zu viele fehlgeschlagene Versuche. Versuchen Sie es in %(wait)s erneut.",
        "Trop de tentatives échouées. Réessayez dans %(wait)s.",
    ),
    "Too many wrong passwords. Try again in %(wait)s.": (
        "Zu viele falsche Passwörter. Versuchen Sie es in %(wait)s erneut.",
        "Trop de mots de passe erronés. Réessayez dans %(wait)s.",
    ),
    "%(browser)s on %(system)s": ("%(browser)s unter %(system)s", "%(browser)s sous %(system)s"),
    "Unknown device": ("Unbekanntes Gerät", "Appareil inconnu"),
    "unknown address": ("unbekannte Adresse", "adresse inconnue"),
    "added": ("hinzugefügt", "ajoutée le"),
    "Passkey": ("Passkey", "Clé d'accès"),
    "That did not work.": ("Das hat nicht geklappt.", "Cela n'a pas fonctionné."),
    "A link to verify %(email)s is on its way to it.": (
        "Ein Link zur Bestätigung von %(email)s ist unterwegs dorthin.",
        "Un lien pour vérifier %(email)s est en route vers cette adresse.",
    ),
    "A link went out a moment ago: please wait a few minutes before asking again.": (
        "Gerade eben ging ein Link hinaus: Bitte warten Sie ein paar Minuten, bevor Sie erneut fragen.",
        "Un lien vient de partir : veuillez attendre quelques minutes avant de redemander.",
    ),
    "There is no address waiting to be verified.": (
        "Keine Adresse wartet auf Bestätigung.",
        "Aucune adresse n'attend de vérification.",
    ),
    "A new link is on its way; the one before no longer works.": (
        "Ein neuer Link ist unterwegs; der vorige gilt nicht mehr.",
        "Un nouveau lien est en route ; le précédent ne fonctionne plus.",
    ),
    "Password changed; every other session has ended.": (
        "Passwort geändert; alle anderen Sitzungen sind beendet.",
        "Mot de passe changé ; toutes les autres sessions sont fermées.",
    ),
    "That session has ended already.": ("Diese Sitzung ist bereits beendet.", "Cette session est déjà fermée."),
    "The session has ended.": ("Die Sitzung ist beendet.", "La session est fermée."),
    "Every other session has ended.": (
        "Alle anderen Sitzungen sind beendet.",
        "Toutes les autres sessions sont fermées.",
    ),
    "There was no other session.": ("Es gab keine andere Sitzung.", "Il n'y avait aucune autre session."),
    "New recovery codes: the old ones no longer work.": (
        "Neue Wiederherstellungscodes: Die alten gelten nicht mehr.",
        "Nouveaux codes de récupération : les anciens ne fonctionnent plus.",
    ),
    "These are not recovery codes.": (
        "Das sind keine Wiederherstellungscodes.",
        "Ce ne sont pas des codes de récupération.",
    ),
    "Recovery codes for %(username)s; each signs in once in place of a code.": (
        "Wiederherstellungscodes für %(username)s; jeder ersetzt einmal einen Code bei der Anmeldung.",
        "Codes de récupération pour %(username)s ; chacun remplace une fois un code à la connexion.",
    ),
    "Your account and its sessions are gone.": (
        "Ihr Konto und seine Sitzungen sind gelöscht.",
        "Votre compte et ses sessions sont supprimés.",
    ),
    "No authenticator app is waiting to be confirmed.": (
        "Keine Authenticator-App wartet auf Bestätigung.",
        "Aucune application d'authentification n'attend de confirmation.",
    ),
    "The authenticator app is set up.": (
        "Die Authenticator-App ist eingerichtet.",
        "L'application d'authentification est configurée.",
    ),
    "The authenticator app was removed; every other session has ended.": (
        "Die Authenticator-App wurde entfernt; alle anderen Sitzungen sind beendet.",
        "L'application d'authentification a été supprimée ; toutes les autres sessions sont fermées.",
    ),
    "The passkey was removed; every other session has ended.": (
        "Der Passkey wurde entfernt; alle anderen Sitzungen sind beendet.",
        "La clé d'accès a été supprimée ; toutes les autres sessions sont fermées.",
    ),
    "The page you asked for needs a second factor.": (
        "Die angeforderte Seite verlangt einen zweiten Faktor.",
        "La page demandée exige un second facteur.",
    ),
    "Your account has no second factor yet. Set up an authenticator app first, then come back to this page.": (
        "Ihr Konto hat noch keinen zweiten Faktor. Richten Sie zuerst eine Authenticator-App ein und kommen Sie"
        " dann auf diese Seite zurück.",
        "Votre compte n'a pas encore de second facteur. Configurez d'abord une application d'authentification,"
        " puis revenez sur cette page.",
    ),
    "Set up a second factor": ("Zweiten Faktor einrichten", "Configurer un second facteur"),
    "Set up a second factor first.": (
        "Richten Sie zuerst einen zweiten Faktor ein.",
        "Configurez d'abord un second facteur.",
    ),
    "The passkey request was cancelled or timed out.": (
        "Die Passkey-Anfrage wurde abgebrochen oder ist abgelaufen.",
        "La demande de clé d'accès a été annulée ou a expiré.",
    ),
    "The passkey was not accepted.": ("Der Passkey wurde nicht akzeptiert.", "La clé d'accès n'a pas été acceptée."),
    "If the account has a verified email address, a link to reset the password is on its way to it.": (
        "Falls das Konto eine bestätigte E-Mail-Adresse hat, ist ein Link zum Zurücksetzen des Passworts unterwegs"
        " dorthin.",
        "Si le compte a une adresse e-mail vérifiée, un lien pour réinitialiser le mot de passe est en route vers"
        " elle.",
    ),
    "Every session has ended. Sign in with the new password.": (
        "Alle Sitzungen sind beendet. Melden Sie sich mit dem neuen Passwort an.",
        "Toutes les sessions sont fermées. Connectez-vous avec le nouveau mot de passe.",
    ),
    "Every session has ended; a link to choose a new password is on its way to the address this notice went to.": (
        "Alle Sitzungen sind beendet; ein Link zur Wahl eines neuen Passworts ist unterwegs an die Adresse,"
        " an die dieser Hinweis ging.",
        "Toutes les sessions sont fermées ; un lien pour choisir un nouveau mot de passe est en route vers"
        " l'adresse qui a reçu cet avis.",
    ),
    "Reset links work once, for a limited time.": (
        "Links zum Zurücksetzen gelten einmal und nur für begrenzte Zeit.",
        "Les liens de réinitialisation ne servent qu'une fois, pendant un temps limité.",
    ),
    "Mail me a new link": ("Neuen Link senden", "M'envoyer un nouveau lien"),
    "Verification links work once, for a limited time. Your account page sends a new one.": (
        "Bestätigungslinks gelten einmal und nur für begrenzte Zeit. Ihre Kontoseite sendet einen neuen.",
        "Les liens de vérification ne servent qu'une fois, pendant un temps limité. Votre page de compte en"
        " envoie un nouveau.",
    ),
    "Send a new link from my account": (
        "Neuen Link von meinem Konto senden",
        "Envoyer un nouveau lien depuis mon compte",
    ),
    "This link was used already or is too old. If someone else has your password, reset it now.": (
        "Dieser Link wurde schon benutzt oder ist zu alt. Falls jemand anderes Ihr Passwort kennt, setzen Sie es"
        " jetzt zurück.",
        "Ce lien a déjà servi ou est trop ancien. Si quelqu'un d'autre connaît votre mot de passe, réinitialisez-le"
        " maintenant.",
    ),
    "Reset my password": ("Mein Passwort zurücksetzen", "Réinitialiser mon mot de passe"),
    "Back to your account": ("Zurück zu Ihrem Konto", "Retour à votre compte"),
    # The gateway check's page for a browser an access rule refuses (authsvc/web/edge/gate.py).
    "Access denied": ("Zugriff verweigert", "Accès refusé"),
    "Your account may not open this page.": (
        "Ihr Konto darf diese Seite nicht öffnen.",
        "Votre compte ne peut pas ouvrir cette page.",
    ),
    # What the services say that a page shows (authsvc's English; the portal localizes it when rendering).
    "That username is already taken.": (
        "Dieser Benutzername ist schon vergeben.",
        "Ce nom d'utilisateur est déjà pris.",
    ),
    "This email address belongs to another account.": (
        "Diese E-Mail-Adresse gehört zu einem anderen Konto.",
        "Cette adresse e-mail appartient à un autre compte.",
    ),
    "Verify your email address first: open the link in the mail we sent you.": (
        "Bestätigen Sie zuerst Ihre E-Mail-Adresse: Öffnen Sie den Link in der Mail, die wir Ihnen gesendet haben.",
        "Vérifiez d'abord votre adresse e-mail : ouvrez le lien du message que nous vous avons envoyé.",
    ),
    "The link is invalid, used or expired; ask for a new one.": (
        "Der Link ist ungültig, benutzt oder abgelaufen; fordern Sie einen neuen an.",
        "Le lien est invalide, déjà utilisé ou expiré ; demandez-en un nouveau.",
    ),
    "Sign-up is closed; an administrator creates accounts.": (
        "Die Registrierung ist geschlossen; Konten legt ein Administrator an.",
        "L'inscription est fermée ; un administrateur crée les comptes.",
    ),
    "The password is wrong.": ("Das Passwort ist falsch.", "Le mot de passe est incorrect."),
    "The current password is wrong.": ("Das aktuelle Passwort ist falsch.", "Le mot de passe actuel est incorrect."),
    "This session is older than mfa.recent_auth_seconds: send a code from the authenticator app too.": (
        "Ihre Anmeldung ist länger her: Geben Sie auch einen Code aus Ihrer Authenticator-App ein.",
        "Votre connexion date un peu : saisissez aussi un code de votre application d'authentification.",
    ),
    "The code is not valid.": ("Der Code ist ungültig.", "Le code n'est pas valide."),
    "TOTP is already enrolled; remove it before enrolling again.": (
        "Eine Authenticator-App ist schon eingerichtet; entfernen Sie sie, bevor Sie eine neue einrichten.",
        "Une application d'authentification est déjà configurée ; supprimez-la avant d'en configurer une autre.",
    ),
    "No second factor is enrolled; enrol one on the security page first.": (
        "Kein zweiter Faktor ist eingerichtet; richten Sie zuerst auf Ihrer Kontoseite einen ein.",
        "Aucun second facteur n'est configuré ; configurez-en un d'abord sur votre page de compte.",
    ),
    "No TOTP enrolment is pending; start one with POST /users/me/mfa/totp.": (
        "Keine Einrichtung einer Authenticator-App ist offen; beginnen Sie sie auf Ihrer Kontoseite.",
        "Aucune configuration d'application d'authentification n'est en cours ; commencez-la sur votre page de compte.",
    ),
    "This enrolment is not the one pending for this session, or it expired; start it again.": (
        "Diese Einrichtung gehört nicht zu dieser Sitzung oder ist abgelaufen; beginnen Sie sie erneut.",
        "Cette configuration n'est pas celle de cette session, ou elle a expiré ; recommencez-la.",
    ),
    "No TOTP is enrolled.": (
        "Keine Authenticator-App eingerichtet.",
        "Aucune application d'authentification n'est configurée.",
    ),
    "No such passkey.": ("Diesen Passkey gibt es nicht.", "Cette clé d'accès n'existe pas."),
    "The email address is not valid.": ("Die E-Mail-Adresse ist ungültig.", "L'adresse e-mail n'est pas valide."),
    "Too many attempts; try again later.": (
        "Zu viele Versuche; versuchen Sie es später erneut.",
        "Trop de tentatives ; réessayez plus tard.",
    ),
    "The storage backend is unavailable; try again shortly.": (
        "Der Speicher ist nicht erreichbar; versuchen Sie es gleich erneut.",
        "Le stockage est indisponible ; réessayez dans un instant.",
    ),
    "The server is busy checking passwords; try again shortly.": (
        "Der Server ist mit der Prüfung von Passwörtern beschäftigt; versuchen Sie es gleich erneut.",
        "Le serveur est occupé à vérifier des mots de passe ; réessayez dans un instant.",
    ),
    # A service's problem with one field, as a sentence (authsvc.web.edge.i18n.field_problem and NUMBERED).
    "Username must be %(min)s to %(max)s characters long.": (
        "Der Benutzername muss %(min)s bis %(max)s Zeichen lang sein.",
        "Le nom d'utilisateur doit compter de %(min)s à %(max)s caractères.",
    ),
    "Username may contain only letters a-z, digits and . _ - @.": (
        "Der Benutzername darf nur Buchstaben a-z, Ziffern und . _ - @ enthalten.",
        "Le nom d'utilisateur ne peut contenir que des lettres a-z, des chiffres et . _ - @.",
    ),
    "Password must be at least %(min)s characters long.": (
        "Das Passwort muss mindestens %(min)s Zeichen lang sein.",
        "Le mot de passe doit compter au moins %(min)s caractères.",
    ),
    "Password must be at most %(max)s characters long.": (
        "Das Passwort darf höchstens %(max)s Zeichen lang sein.",
        "Le mot de passe doit compter au plus %(max)s caractères.",
    ),
    "Password is one of the most common passwords; choose another.": (
        "Das Passwort gehört zu den gängigsten Passwörtern; wählen Sie ein anderes.",
        "Ce mot de passe fait partie des plus courants ; choisissez-en un autre.",
    ),
    "Password must not be the username.": (
        "Das Passwort darf nicht der Benutzername sein.",
        "Le mot de passe ne doit pas être le nom d'utilisateur.",
    ),
    "Password must not contain the name of this service or organisation.": (
        "Das Passwort darf nicht den Namen dieses Dienstes oder dieser Organisation enthalten.",
        "Le mot de passe ne doit pas contenir le nom de ce service ou de cette organisation.",
    ),
    "Email must be an email address such as name@example.com.": (
        "Bitte geben Sie eine E-Mail-Adresse wie name@example.com ein.",
        "Saisissez une adresse e-mail comme nom@example.com.",
    ),
    # The error page's titles (a problem's or aiohttp's) and the form reader's refusals.
    "Bad Request": ("Ungültige Anfrage", "Requête invalide"),
    "Unauthorized": ("Nicht angemeldet", "Non connecté"),
    "Forbidden": ("Nicht erlaubt", "Interdit"),
    "Not Found": ("Nicht gefunden", "Introuvable"),
    "Method Not Allowed": ("Methode nicht erlaubt", "Méthode non autorisée"),
    "Conflict": ("Konflikt", "Conflit"),
    "Payload Too Large": ("Anfrage zu groß", "Requête trop volumineuse"),
    "Request Entity Too Large": ("Anfrage zu groß", "Requête trop volumineuse"),
    "Unsupported Media Type": ("Nicht unterstütztes Format", "Format non pris en charge"),
    "Unprocessable Content": ("Nicht verarbeitbar", "Contenu non traitable"),
    "Too Many Requests": ("Zu viele Anfragen", "Trop de requêtes"),
    "Service Unavailable": ("Dienst nicht verfügbar", "Service indisponible"),
    "Internal Server Error": ("Interner Serverfehler", "Erreur interne du serveur"),
    "Send the form as application/x-www-form-urlencoded.": (
        "Senden Sie das Formular als application/x-www-form-urlencoded.",
        "Envoyez le formulaire en application/x-www-form-urlencoded.",
    ),
    "The body is not a valid form.": (
        "Der Inhalt ist kein gültiges Formular.",
        "Le contenu n'est pas un formulaire valide.",
    ),
    "A form field appears more than once.": (
        "Ein Formularfeld kommt mehrfach vor.",
        "Un champ du formulaire apparaît plusieurs fois.",
    ),
    "The form does not have the expected fields.": (
        "Das Formular hat nicht die erwarteten Felder.",
        "Le formulaire n'a pas les champs attendus.",
    ),
    "Form fields must be text, not files.": (
        "Formularfelder müssen Text sein, keine Dateien.",
        "Les champs du formulaire doivent être du texte, pas des fichiers.",
    ),
    "Form fields must be valid Unicode text.": (
        "Formularfelder müssen gültiger Unicode-Text sein.",
        "Les champs du formulaire doivent être du texte Unicode valide.",
    ),
    "Cross-site request refused: its Origin is not allowed.": (
        "Seitenübergreifende Anfrage abgelehnt: Ihr Ursprung ist nicht erlaubt.",
        "Requête intersite refusée : son origine n'est pas autorisée.",
    ),
    "Cross-site request refused.": ("Seitenübergreifende Anfrage abgelehnt.", "Requête intersite refusée."),
}

PLURALS: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    # (singular, plural): (German forms, French forms), in the order of each language's Plural-Forms (German: one,
    # other; French in CLDR: one (0 and 1), many (millions), other).
    ("%(count)s second", "%(count)s seconds"): (
        ("%(count)s Sekunde", "%(count)s Sekunden"),
        ("%(count)s seconde", "%(count)s secondes", "%(count)s secondes"),
    ),
    ("%(count)s minute", "%(count)s minutes"): (
        ("%(count)s Minute", "%(count)s Minuten"),
        ("%(count)s minute", "%(count)s minutes", "%(count)s minutes"),
    ),
}


def main() -> None:
    for index, language in enumerate(("de", "fr")):
        catalog = Catalog(
            locale=language,
            project="authsvc portal",
            domain="portal",
            fuzzy=False,
            creation_date=STAMP,
            revision_date=STAMP,
        )
        for msgid, translated in TEXTS.items():
            catalog.add(msgid, translated[index])
        for forms, plural in PLURALS.items():
            catalog.add(forms, plural[index])
        target = LOCALES / language / "LC_MESSAGES" / "portal.po"
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            write_po(out, catalog, omit_header=False, no_location=True, width=120)


if __name__ == "__main__":
    main()
