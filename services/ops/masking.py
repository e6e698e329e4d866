"""What the ops tools mask with; one home each, in ``services/shared`` (services use them too)."""

from services.shared.fields import mask_payload, mask_record
from services.shared.masking import mask_email, mask_phone, mask_text, mask_value

__all__ = ["mask_email", "mask_payload", "mask_phone", "mask_record", "mask_text", "mask_value"]
