"""Image-text retrieval recall@k (Radford et al. 2021, CLIP, section 3.1.5; the COCO and Flickr30k
protocol of Karpathy and Fei-Fei 2015).

Text i is paired with image `image_of_text[i]` (one caption per image when omitted; several per
image in COCO). Text->image: a hit at k when the caption's own image is among its k most similar
images. Image->text: a hit at k when any of the image's captions is among its k most similar
texts. Ranks count the strictly more similar candidates, so exact ties resolve in the query's
favour; with float embeddings ties have probability zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from mmcl.data.batch import Batch
from mmcl.errors import MMCLError
from mmcl.eval.context import EvalContext, Records, eval_task
from mmcl.eval.features import FeatureSet, encode_texts, extract_features

CHUNK = 1024  # query rows per similarity matmul, bounds memory at CHUNK x candidates


def _text_to_image_ranks(
    images: torch.Tensor, texts: torch.Tensor, image_of_text: torch.Tensor
) -> torch.Tensor:
    """Rank (M,) of each caption's own image among all images (0 = most similar)."""
    ranks = []
    for start in range(0, texts.shape[0], CHUNK):
        sims = texts[start : start + CHUNK] @ images.T  # (b, N)
        own = sims.gather(1, image_of_text[start : start + CHUNK, None])  # (b, 1)
        ranks.append((sims > own).sum(dim=1))  # (b,)
    return torch.cat(ranks)


def _image_to_text_ranks(
    images: torch.Tensor, texts: torch.Tensor, image_of_text: torch.Tensor
) -> torch.Tensor:
    """Rank (N,) of each image's best-ranked own caption among all texts (0 = most similar)."""
    ranks = []
    for start in range(0, images.shape[0], CHUNK):
        sims = images[start : start + CHUNK] @ texts.T  # (b, M)
        image_ids = torch.arange(start, start + sims.shape[0])  # (b,)
        own = image_of_text[None, :] == image_ids[:, None]  # (b, M)
        best_own = sims.masked_fill(~own, float("-inf")).amax(dim=1, keepdim=True)  # (b, 1)
        ranks.append((sims > best_own).sum(dim=1))  # (b,)
    return torch.cat(ranks)


def _check_pairing(n_images: int, n_texts: int, image_of_text: torch.Tensor) -> None:
    if image_of_text.shape != (n_texts,):
        raise MMCLError(
            f"image_of_text has shape {tuple(image_of_text.shape)}; it needs one image index per "
            f"text, shape ({n_texts},)"
        )
    if n_texts and (image_of_text.min() < 0 or image_of_text.max() >= n_images):
        raise MMCLError(f"image_of_text holds indices outside [0, {n_images}) images")
    if torch.bincount(image_of_text, minlength=n_images).min() == 0:
        raise MMCLError("every image needs at least one caption in image_of_text")


def retrieval_recall(
    image_embeddings: torch.Tensor,
    text_embeddings: torch.Tensor,
    image_of_text: torch.Tensor | None = None,
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """`image_to_text_R@k` and `text_to_image_R@k` for images (N, D) and texts (M, D).

    image_of_text (M,) gives each text's image; None means text i describes image i (M == N).
    Embeddings are compared by cosine similarity.
    """
    n_images, n_texts = image_embeddings.shape[0], text_embeddings.shape[0]
    if image_of_text is None:
        if n_images != n_texts:
            raise MMCLError(
                f"{n_images} images and {n_texts} texts: pass image_of_text to pair them"
            )
        image_of_text = torch.arange(n_texts)
    image_of_text = image_of_text.long()
    _check_pairing(n_images, n_texts, image_of_text)
    images = nn.functional.normalize(image_embeddings.float(), dim=1)  # (N, D)
    texts = nn.functional.normalize(text_embeddings.float(), dim=1)  # (M, D)
    i2t = _image_to_text_ranks(images, texts, image_of_text)  # (N,)
    t2i = _text_to_image_ranks(images, texts, image_of_text)  # (M,)
    metrics = {}
    for k in ks:
        metrics[f"image_to_text_R@{k}"] = (i2t < k).float().mean().item()
        metrics[f"text_to_image_R@{k}"] = (t2i < k).float().mean().item()
    return metrics


def evaluate(
    model: nn.Module,
    batches: Iterable[Batch],
    ks: Sequence[int] = (1, 5, 10),
    autocast: bool = False,
) -> dict[str, float]:
    """Recall@k between each image and its own caption (one caption per image) on one split."""
    images = extract_features(model, batches, kind="embedding", autocast=autocast)
    if images.texts is None:
        raise MMCLError("retrieval needs captions, but this split's batches carry no texts")
    texts = encode_texts(model, images.texts, autocast=autocast)  # (N, D)
    return retrieval_recall(images.features, texts, ks=ks)


@eval_task("retrieval", needs_text=True, needs=("captions",))
def score_retrieval(ctx: EvalContext) -> Records:
    """Recall@k both ways on every split, over every caption of each image."""
    ctx.progress("retrieval")
    records = []
    for name, fs in ctx.tests.items():
        embedding, _ = ctx.heads(fs.features)
        text, image_of_text = _texts(ctx, ctx.data.tests[name].caption_sets, fs)
        for metric, value in retrieval_recall(embedding, text, image_of_text).items():
            records.append(ctx.record("retrieval", name, metric, value))
    return records


def _texts(
    ctx: EvalContext, caption_sets: list[list[str]], fs: FeatureSet
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Text embeddings to retrieve among, and each one's image: every caption of each image
    where the split has several (the COCO / Flickr protocol), else its one caption.

    `caption_sets` has one entry per split row; the feature rows are the split rows that could
    be read (`fs.index`), so a skipped image takes its captions with it."""
    if not caption_sets:
        with torch.no_grad():
            tokens = fs.texts.to(next(ctx.model.parameters()).device)
            return ctx.model.encode_text(tokens).float().cpu(), None
    kept = [caption_sets[int(row)] for row in fs.index]
    captions = [c for captions in kept for c in captions]
    image_of_text = torch.tensor([i for i, cs in enumerate(kept) for _ in cs])
    return encode_texts(ctx.model, ctx.tokenizer(captions), autocast=ctx.autocast), image_of_text
