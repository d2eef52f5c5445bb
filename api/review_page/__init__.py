"""The review pages for compliance staff (`/`), served by the decision API itself."""

from replygate.api.review_page.pages import mount
from replygate.api.review_page.session import new_secret, session_secret

__all__ = ["mount", "new_secret", "session_secret"]
