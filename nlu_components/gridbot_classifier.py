"""gridbot's intent classifier, a Rasa 3 graph component (runs in Rasa's own Python 3.10 environment).

TF-IDF over jieba word 1–2-grams and char_wb 1–5-grams of the raw text (sublinear term frequency,
each block L2-normalised), a linear SVM (one-vs-rest, squared hinge), and a softmax over its margins
(`scale`) for the ranking's confidences. Chosen by measurement against Rasa's LogisticRegression
over raw counts (README, "Pipelines compared"): the counts let a long rambling message outweigh a
short one, and C=1 on them underfits; this trains in seconds on 2 cores.

It featurises the text itself (it needs only the tokenizer before it), so a pipeline using it has
no CountVectorsFeaturizer: the CRF entity extractor works from the tokens.

Loaded by module path (`gridbot_classifier.TfidfSvmClassifier`): bot/nlu puts this directory on
Rasa's PYTHONPATH for training and serving, and hashes this file into the model version.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

logger = logging.getLogger(__name__)
FILE = "tfidf_svm.pkl"


# Anonymisation placeholders (某某, XX, ××, ***, ○○) stand for a name or a place. They are no
# evidence of an intent, but many out-of-scope message-board titles carry them ("某某公司…"), so
# as features they pull every "关于某某小区…的问题" towards `other`. They become one neutral 某,
# the same in training and in parsing (the text itself, and so the entities, stay as written).
PLACEHOLDER = re.compile(r"某某+|[XxＸｘ]{2,}|[×✕＊*]{2,}|[○〇]{2,}")


def _neutral(text: str) -> str:
    return PLACEHOLDER.sub("某", text)


def _words(message: Message) -> list[str]:
    """The tokenizer's words (jieba with the project's dictionary), lower-cased, placeholders out."""
    tokens = message.get(f"{TEXT}_tokens") or []
    words = (_neutral(t.text).strip().lower() for t in tokens)
    return [w for w in words if w]


def _chars(message: Message) -> str:
    """The text the character n-grams read: lower-cased, placeholders as one neutral 某."""
    return _neutral(message.get(TEXT) or "").lower()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TfidfSvmClassifier(IntentClassifier, GraphComponent):
    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn"]

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Rasa's training cache keys a component by its class's source only: the whole module's
        source here, so an edit to a helper (`_words`, `_ngrams`) is never served from the cache."""
        return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"C": 1.0, "scale": 5.0, "ranking_length": 10, "char_ngrams": [1, 5], "word_ngrams": [1, 2]}

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource) -> None:
        self.config = {**self.get_default_config(), **config}
        self._storage, self._resource = model_storage, resource
        self.words: TfidfVectorizer | None = None
        self.chars: TfidfVectorizer | None = None
        self.svm: LinearSVC | None = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TfidfSvmClassifier:
        return cls(config, model_storage, resource)

    def _features(self, messages: list[Message]) -> csr_matrix:
        assert self.words is not None and self.chars is not None
        words = self.words.transform([_words(m) for m in messages])
        chars = self.chars.transform([_chars(m) for m in messages])
        return hstack([words, chars]).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if len({e.get(INTENT) for e in examples}) < 2:  # a linear SVM needs two classes at least
            logger.warning("%s not trained: fewer than two intents with examples", type(self).__name__)
            return self._resource
        lo, hi = self.config["word_ngrams"]
        self.words = TfidfVectorizer(analyzer=_ngrams(lo, hi), sublinear_tf=True)
        clo, chi = self.config["char_ngrams"]
        self.chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(clo, chi), sublinear_tf=True)
        self.words.fit([_words(e) for e in examples])
        self.chars.fit([_chars(e) for e in examples])
        self.svm = LinearSVC(C=float(self.config["C"]), random_state=42)
        self.svm.fit(self._features(examples), [e.get(INTENT) for e in examples])
        self.persist()
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        if self.svm is None or not messages:
            return messages
        margins = self.svm.decision_function(self._features(messages))
        if margins.ndim == 1:  # two intents: sklearn gives one column
            margins = np.stack([-margins, margins], axis=1)
        scaled = float(self.config["scale"]) * (margins - margins.max(axis=1, keepdims=True))
        probs = np.exp(scaled)
        probs /= probs.sum(axis=1, keepdims=True)
        names = self.svm.classes_
        for message, row in zip(messages, probs, strict=True):
            order = np.argsort(-row)[: int(self.config["ranking_length"]) or len(row)]
            ranking = [{"name": str(names[i]), "confidence": float(row[i])} for i in order]
            message.set("intent", ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def persist(self) -> None:
        with self._storage.write_to(self._resource) as directory, (directory / FILE).open("wb") as out:
            pickle.dump((self.words, self.chars, self.svm), out)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TfidfSvmClassifier:
        component = cls(config, model_storage, resource)
        try:
            with model_storage.read_from(resource) as directory, (directory / FILE).open("rb") as f:
                component.words, component.chars, component.svm = pickle.load(f)  # our own model file
        except (ValueError, FileNotFoundError):
            logger.debug("no trained %s in resource %s", cls.__name__, resource.name)
        return component


class _ngrams:
    """Word n-grams of a token list (a class, not a closure, so the vectorizer pickles)."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def __call__(self, words: list[str]) -> list[str]:
        return [" ".join(words[i : i + n]) for n in range(self.lo, self.hi + 1) for i in range(len(words) - n + 1)]
