"""``/quota``: credits for everyone to see, allowances and controls for server admins.

await bot.add_cog(QuotaCog(quota_service))
"""

from bot.quota._cog import QuotaCog
from bot.quota._permissions import refusal as admin_refusal

__all__ = ["QuotaCog", "admin_refusal"]
