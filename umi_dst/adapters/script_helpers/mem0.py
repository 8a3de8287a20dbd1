"""What mem0's ``list`` returns, read as records (the adapter and exported scripts share it)."""


def listed(answer):
    """The records in what ``list`` returned: its shape differs by store (Qdrant's is a
    ``(records, next_offset)`` pair, others a list holding one list of records)."""
    if isinstance(answer, tuple):
        answer = answer[0]
    if isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], list):
        answer = answer[0]
    return list(answer)
