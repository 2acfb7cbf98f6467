"""The user's fine-tuning pipeline: upload a dataset, start a job, wait for it."""

from __future__ import annotations

import openai


def train(client: openai.OpenAI, data: bytes, *, model: str = "gpt-4o-mini-2024-07-18") -> str:
    uploaded = client.files.create(file=("train.jsonl", data), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=model, training_file=uploaded.id, suffix="bikes")
    return job.id
