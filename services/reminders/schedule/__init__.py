"""The durable schedule: each patient's plan in a table, indexed by when it comes due.

Pure of Kafka and Faust; imports ``planning``; only ``worker`` imports it.
"""
