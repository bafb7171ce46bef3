"""Mails of the identity domain: e-mail confirmation, invitations, access requests.

Each template has a subject and a plain-text body per language; placeholders are filled by
`mail.render` when the sender delivers the message."""

from __future__ import annotations

from mail import register_templates

CONFIRM_EMAIL = "identity.confirm_email"
INVITATION = "identity.invitation"
ACCESS_REQUEST = "identity.access_request"
ACCESS_APPROVED = "identity.access_approved"
ACCESS_REJECTED = "identity.access_rejected"

register_templates(
    {
        CONFIRM_EMAIL: {
            "en": (
                "Confirm your e-mail address",
                "Hello {name},\n\n"
                "Thank you for registering with the self-service portal for {account_name}.\n"
                "Please confirm your e-mail address by opening this link:\n\n{link}\n\n"
                "The link works once and expires on {expires_at}.\n"
                "If you did not register, you can ignore this message.\n",
            ),
            "fr": (
                "Confirmez votre adresse e-mail",
                "Bonjour {name},\n\n"
                "Merci de vous être inscrit(e) au portail libre-service pour {account_name}.\n"
                "Veuillez confirmer votre adresse e-mail en ouvrant ce lien :\n\n{link}\n\n"
                "Le lien ne fonctionne qu'une fois et expire le {expires_at}.\n"
                "Si vous ne vous êtes pas inscrit(e), ignorez ce message.\n",
            ),
            "it": (
                "Conferma il tuo indirizzo e-mail",
                "Buongiorno {name},\n\n"
                "Grazie per esserti registrato/a al portale self-service per {account_name}.\n"
                "Conferma il tuo indirizzo e-mail aprendo questo link:\n\n{link}\n\n"
                "Il link funziona una sola volta e scade il {expires_at}.\n"
                "Se non ti sei registrato/a, ignora questo messaggio.\n",
            ),
        },
        INVITATION: {
            "en": (
                "You are invited to the self-service portal of {account_name}",
                "Hello,\n\n"
                "{inviter} invites you to manage {account_name} in the self-service portal "
                "(role: {role}).\n"
                "Accept the invitation by opening this link:\n\n{link}\n\n"
                "The link works once and expires on {expires_at}.\n",
            ),
            "fr": (
                "Vous êtes invité(e) sur le portail libre-service de {account_name}",
                "Bonjour,\n\n"
                "{inviter} vous invite à gérer {account_name} sur le portail libre-service "
                "(rôle : {role}).\n"
                "Acceptez l'invitation en ouvrant ce lien :\n\n{link}\n\n"
                "Le lien ne fonctionne qu'une fois et expire le {expires_at}.\n",
            ),
            "it": (
                "Sei invitato/a al portale self-service di {account_name}",
                "Buongiorno,\n\n"
                "{inviter} ti invita a gestire {account_name} nel portale self-service "
                "(ruolo: {role}).\n"
                "Accetta l'invito aprendo questo link:\n\n{link}\n\n"
                "Il link funziona una sola volta e scade il {expires_at}.\n",
            ),
        },
        ACCESS_REQUEST: {
            "en": (
                "Access request for {account_name}",
                "Hello {name},\n\n"
                "{requester_name} <{requester_email}> asks for access to {account_name} in the "
                "self-service portal. As an administrator you can approve the request (choosing "
                "the role and devices) or reject it in the portal.\n",
            ),
            "fr": (
                "Demande d'accès pour {account_name}",
                "Bonjour {name},\n\n"
                "{requester_name} <{requester_email}> demande l'accès à {account_name} sur le "
                "portail libre-service. En tant qu'administrateur, vous pouvez accepter la "
                "demande (en choisissant le rôle et les appareils) ou la refuser dans le "
                "portail.\n",
            ),
            "it": (
                "Richiesta di accesso per {account_name}",
                "Buongiorno {name},\n\n"
                "{requester_name} <{requester_email}> chiede l'accesso a {account_name} nel "
                "portale self-service. In qualità di amministratore puoi approvare la richiesta "
                "(scegliendo ruolo e dispositivi) o rifiutarla nel portale.\n",
            ),
        },
        ACCESS_APPROVED: {
            "en": (
                "Your access to {account_name} is approved",
                "Hello {name},\n\n"
                "An administrator approved your access to {account_name} (role: {role}).\n"
                "You can sign in to the self-service portal: {link}\n",
            ),
            "fr": (
                "Votre accès à {account_name} est accordé",
                "Bonjour {name},\n\n"
                "Un administrateur a accordé votre accès à {account_name} (rôle : {role}).\n"
                "Vous pouvez vous connecter au portail libre-service : {link}\n",
            ),
            "it": (
                "Il tuo accesso a {account_name} è stato approvato",
                "Buongiorno {name},\n\n"
                "Un amministratore ha approvato il tuo accesso a {account_name} "
                "(ruolo: {role}).\n"
                "Puoi accedere al portale self-service: {link}\n",
            ),
        },
        ACCESS_REJECTED: {
            "en": (
                "Your access request for {account_name}",
                "Hello {name},\n\n"
                "An administrator of {account_name} declined your access request. If you think "
                "this is a mistake, please contact your company's portal administrator.\n",
            ),
            "fr": (
                "Votre demande d'accès pour {account_name}",
                "Bonjour {name},\n\n"
                "Un administrateur de {account_name} a refusé votre demande d'accès. S'il "
                "s'agit d'une erreur, contactez l'administrateur du portail de votre "
                "entreprise.\n",
            ),
            "it": (
                "La tua richiesta di accesso per {account_name}",
                "Buongiorno {name},\n\n"
                "Un amministratore di {account_name} ha rifiutato la tua richiesta di accesso. "
                "Se pensi che si tratti di un errore, contatta l'amministratore del portale "
                "della tua azienda.\n",
            ),
        },
    }
)
