"""The auth service's logic, one module per domain. Each class takes the pool, Redis and settings.

- accounts: sign-up, login (password, OIDC), passwords, `me`
- sessions: refresh-token rotation, logout, switching workspace, a member's sessions
- members: the workspace's members and their roles
- invitations: joining a workspace through a mailed link, accepted by the invited address
- verification: proving an account's address (single-use mailed links); what an unverified account may not do
- resets: password reset by mail
- api_keys, widget_keys: the keys a workspace issues to servers and to websites
- visitors: visitor tokens bought with a widget key
- audit: the workspace's security log
- tokens: signing, the JWKS, ending sessions at once (used by the others)
"""

from cortex.auth.service.accounts import AccountService
from cortex.auth.service.api_keys import ApiKeyService
from cortex.auth.service.audit import AuditService
from cortex.auth.service.invitations import InvitationService
from cortex.auth.service.members import MemberService
from cortex.auth.service.resets import PasswordResetService
from cortex.auth.service.sessions import SessionService
from cortex.auth.service.tokens import TokenService
from cortex.auth.service.verification import VerificationService
from cortex.auth.service.visitors import VisitorService
from cortex.auth.service.widget_keys import WidgetKeyService

__all__ = [
    "AccountService",
    "ApiKeyService",
    "AuditService",
    "InvitationService",
    "MemberService",
    "PasswordResetService",
    "SessionService",
    "TokenService",
    "VerificationService",
    "VisitorService",
    "WidgetKeyService",
]
