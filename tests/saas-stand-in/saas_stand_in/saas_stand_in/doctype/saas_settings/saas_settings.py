from frappe.model.document import Document


class SaaSSettings(Document):
	pass
