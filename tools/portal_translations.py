"""The portal's German and French texts, written into authsvc/portal/locales/<lang>/LC_MESSAGES/portal.po.

`make messages` runs this and compiles the catalogues; tests/unit/test_portal_i18n.py checks that every text the
templates mark has a translation in each catalogue and that the shipped .mo files match the .po files. English is
the templates' own text. Titles and messages the handlers pass in are listed here too (they are translated when
rendered).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

STAMP = datetime(2026, 12, 7, tzinfo=UTC)  # fixed: regenerating changes no line that did not change
LOCALES = Path(__file__).resolve().parent.parent / "authsvc" / "portal" / "locales"

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
        target = LOCALES / language / "LC_MESSAGES" / "portal.po"
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            write_po(out, catalog, omit_header=False, no_location=True, width=120)


if __name__ == "__main__":
    main()
