#!/usr/bin/env python3
"""Writes the reference embeddings that the Rust model tests compare with.

The reference is sentence-transformers itself, run on the same local files the `embed` stage
loads (what `scripts/fetch-model` unpacks), so the fixture checks our tokenizer, BERT forward
pass, pooling, truncation and normalisation against the original implementation.

    python3 -m venv /tmp/st && /tmp/st/bin/pip install torch sentence-transformers
    scripts/fetch-model
    /tmp/st/bin/python scripts/make-embedding-fixture.py [MODEL_DIR] \
        > stages-builtin/tests/data/minilm-reference.json

MODEL_DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/stage-framework/models/all-MiniLM-L6-v2.
Output: JSON with the versions used and, per text, its word-piece ids (as the model sees them,
truncated) and its vector (384 floats, 7 significant digits).
"""

import json
import os
import sys

LONG = " ".join(
    [
        "Background: cardiovascular disease remains the leading cause of death worldwide, and",
        "lowering low-density lipoprotein cholesterol is the best established way to reduce it.",
        "Methods: we enrolled 4,162 patients within ten days of an acute coronary syndrome and",
        "randomly assigned them to 80 mg of atorvastatin daily or 40 mg of pravastatin daily;",
        "the primary end point was a composite of death from any cause, myocardial infarction,",
        "documented unstable angina requiring rehospitalization, revascularization, and stroke.",
    ]
    * 5
)

TEXTS = [
    "statin cholesterol",
    "Atorvastatin lowered LDL cholesterol by 50% in patients with hypercholesterolemia.",
    "Metformin reduces HbA1c in type 2 diabetes mellitus.",
    "Aspirin irreversibly inhibits cyclooxygenase-1 in platelets.",
    "The patient was started on 5 mg/kg IV vancomycin q12h for MRSA bacteremia.",
    "BRCA1 and BRCA2 germline mutations confer a high lifetime risk of breast cancer.",
    "SARS-CoV-2 spike protein binds the ACE2 receptor on epithelial cells.",
    "Pembrolizumab, an anti-PD-1 antibody, improved overall survival (HR 0.69; 95% CI 0.56-0.85).",
    "Naïve T cells differentiate into effector cells after antigen exposure — see Müller et al.",
    "Le paracétamol est un antalgique et un antipyrétique.",
    "Die Patientin erhielt Ibuprofen gegen Kopfschmerzen.",
    "糖尿病患者的血糖控制",
    "Ελληνικά: φάρμακο για τον πυρετό; emoji 💊 and symbols ±≥µg",
    "",
    "a",
    "   whitespace   and\ttabs\nand newlines   ",
    "UPPERCASE TEXT IS LOWERCASED BY THE TOKENIZER",
    "Informed consent was obtained from all participants; the protocol was approved by the IRB.",
    "Hypertension, hyperlipidemia, and smoking are modifiable risk factors for coronary artery disease.",
    LONG,
]


def default_dir():
    cache = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(cache):
        cache = os.path.join(os.environ["HOME"], ".cache")
    return os.path.join(cache, "stage-framework", "models", "all-MiniLM-L6-v2")


def main():
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    model_dir = sys.argv[1] if len(sys.argv) > 1 else default_dir()
    model = SentenceTransformer(model_dir, device="cpu")
    vectors = model.encode(TEXTS, batch_size=8, convert_to_numpy=True, normalize_embeddings=False)
    tokenizer = model.tokenizer
    records = []
    for text, vector in zip(TEXTS, vectors):
        ids = tokenizer(text, truncation=True, max_length=model.max_seq_length)["input_ids"]
        records.append(
            {
                "text": text,
                "input_ids": ids,
                "vector": [float(f"{x:.7g}") for x in vector.tolist()],
            }
        )
    out = {
        "model": "all-MiniLM-L6-v2",
        "reference": (
            f"sentence-transformers {sentence_transformers.__version__}, "
            f"transformers {transformers.__version__}, torch {torch.__version__}"
        ),
        "made_by": "scripts/make-embedding-fixture.py",
        "max_seq_length": model.max_seq_length,
        "dimensions": int(vectors.shape[1]),
        "texts": records,
    }
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
