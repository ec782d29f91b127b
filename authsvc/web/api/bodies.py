"""The JSON skin's request bodies, each declared once: `read_body(request, Model)` reads it, and the OpenAPI
document's request schema and request body are generated from it (web/api/ops/docs.py).

One module rather than one beside each handler: several routes share a body (FactorProof, MailToken), and the
document reaches every body through REQUEST_BODIES without importing the handlers.

A field is a string (`str`, or `str | None = None` when it may be absent), a list of strings, or a JSON object (a
passkey ceremony's credential); what the service checks beyond (lengths, formats) stays in the service, and the
descriptions say so.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from authsvc.web.edge.bodies import Body, component

OPTIONAL_CODE = "Optional; a TOTP or recovery code, needed when the session is not recent (see the operation)."
ACCOUNT_PROOF = "The account's current password."
NORMALISED = "NFKC-normalised and lower-cased by the service."
NEW_ONE_RULES = "8-1024 characters, not one of the most common passwords, not the username."
FROM_THE_LINK = "The `token` query parameter of the mailed link."
GROUP_NAME: JsonDict = {"type": "string", "pattern": "^[A-Za-z0-9._:@-]{1,64}$"}  # documented; the service checks it

# The browser's credential, checked by the ceremony (not here); its shape is documented once, by hand.
Credential = Annotated[dict[str, Any], component("PublicKeyCredential")]


class Credentials(Body):
    """Exactly these two string fields (see "Input rules" for what sign-up and login enforce beyond). The username
    is normalised and looked up; any strings pass the body check."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"username": "alice", "password": "correct horse battery"}]}
    )
    username: str = Field(description=NORMALISED)
    password: str


class SignupRequest(Body):
    """The tutorial's two fields, and optionally an email address to verify."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"username": "alice", "password": "correct horse battery", "email": "alice@example.com"}]
        }
    )
    username: str = Field(description=NORMALISED)
    password: str
    email: str | None = Field(
        None, description="Optional; a verification mail is sent to it. At most 254 characters, one @, a dotted domain."
    )


class ForgotPassword(Body):
    """A username or an email address, exactly one of them."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"username": "alice"}]})
    one_of = ("username", "email")
    username: str | None = None
    email: str | None = None


class PasswordReset(Body):
    token: str = Field(description=FROM_THE_LINK)
    newPassword: str = Field(description=NEW_ONE_RULES)


class EmailChange(Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "alice@example.com", "password": "correct horse battery"}]}
    )
    email: str
    password: str = Field(description=ACCOUNT_PROOF)
    code: str | None = Field(None, description=OPTIONAL_CODE)


class MailToken(Body):
    token: str = Field(description=FROM_THE_LINK)


class PasswordChange(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"currentPassword": "correct horse battery", "newPassword": "staple battery horse correct"}]
        }
    )
    currentPassword: str
    newPassword: str = Field(description=NEW_ONE_RULES)
    code: str | None = Field(None, description=OPTIONAL_CODE)


class CurrentPassword(Body):
    """The account's password, for a change that needs it whatever the session's age."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"password": "correct horse battery"}]})
    password: str = Field(description=ACCOUNT_PROOF)


class FactorProof(Body):
    """The account's password, and a second factor's code when the session is not recent."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"password": "correct horse battery"}]})
    password: str = Field(description=ACCOUNT_PROOF)
    code: str | None = Field(None, description=OPTIONAL_CODE)


class IntrospectionRequest(Body):
    session: str = Field(description="The session cookie's value, as the browser sent it.")


class Code(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "123456"}]})
    code: str = Field(description="A TOTP code (six digits) or, where a second factor is checked, a recovery code.")


class TotpConfirmation(Body):
    enrolmentToken: str = Field(description="The `enrolmentToken` of `POST /users/me/mfa/totp`'s answer.")
    code: str = Field(description="The code the authenticator app shows now.")


class PasskeyRegistration(Body):
    name: str = Field(description="What the list calls the passkey (1 to 64 characters; runs of spaces become one).")
    credential: Credential


class PasskeyAssertion(Body):
    credential: Credential


class AdminUserCreation(Body):
    """A new user's name and password, and optionally an email address to verify."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"username": "bob", "password": "correct horse battery"}]}
    )
    username: str = Field(description=NORMALISED)
    password: str
    email: str | None = Field(None, description="Optional; a verification mail is sent to it.")


class Invitation(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"username": "carol", "email": "carol@example.com"}]})
    username: str
    email: str


class AdminGroups(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"groups": ["admins", "dev"]}]})
    groups: list[str] = Field(
        description="The user's groups from now on (none clears them); a name given twice counts once.",
        json_schema_extra={"items": GROUP_NAME},
    )


REQUEST_BODIES: tuple[type[Body], ...] = (
    Credentials,
    SignupRequest,
    ForgotPassword,
    PasswordReset,
    EmailChange,
    MailToken,
    PasswordChange,
    CurrentPassword,
    FactorProof,
    IntrospectionRequest,
    Code,
    TotpConfirmation,
    PasskeyRegistration,
    PasskeyAssertion,
    AdminUserCreation,
    Invitation,
    AdminGroups,
)
