"""The notifier: from a due reminder to a message in a patient's hand, every outcome recorded."""
