"""The batched, fidelity-checked generator (RSIR-SPEC §3; Algorithm 1 of the paper, vectorised).

Many (seed sequence, attempt) rows are decoded together. Per step and row:

1. choose the pool: the seed's own items with probability p, else the whole catalogue;
2. sample the next item among the pool's ``top_k`` best-scored items from the model's own
   distribution, ``softmax(scores * model.logit_scale / temperature)``;
3. one forward pass on ``ctx' = ctx + [item]`` (cached keys/values where the backbone has them);
4. fidelity check on that pass's scores: accept iff a remaining true item of the seed (without the
   item just appended, unless ``check_targets=including_new``) ranks <= tau; on accept the item
   joins the context and leaves the targets, on reject the row stops;
5. the same scores feed the next step's sampling, so each step costs exactly one forward.

Finished rows leave the batch at once (the batch is compacted), the catalogue is scored in
chunks, and every random number is keyed by (seed, iteration, sequence, attempt, step), so the
output does not depend on batch size, device count or resume point.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from rsir_pl import draws, faults
from rsir_pl.config import GenerationConfig
from rsir_pl.data.store import SequenceStore
from rsir_pl.generation.decoding import decoding_functions, left_align, search_step
from rsir_pl.generation.fidelity import FidelityCheck, make_check
from rsir_pl.generation.index import CatalogueIndex, build_index, resolve_index_device
from rsir_pl.generation.result import Candidates, GenerationResult, finalize
from rsir_pl.generation.targets import first_occurrences, initial_targets, step_targets, tested_items
from rsir_pl.models.base import SequentialRecommender
from rsir_pl.plugins import fidelity_backend
from rsir_pl.progress import progress_bar

__all__ = ["Candidates", "GenerationResult", "Generator", "finalize", "seed_indices"]

NEG_INF = float("-inf")


def seed_indices(store: SequenceStore, config: GenerationConfig, skip: np.ndarray | None = None) -> np.ndarray:
    """Sequences of D_k that seed generation: length >= 2, real only if ``seed_from=real``, and
    not among ``skip`` (indices of sequences replaced for training, which seed nothing either)."""
    ok = store.lengths >= 2
    if config.seed_from == "real":
        ok &= store.generation == 0
    if skip is not None and len(skip):
        ok[np.asarray(skip, dtype=np.int64)] = False
    return np.flatnonzero(ok)


class Generator:
    """Generates D'_{k+1} from D_k with a trained model (one instance per iteration)."""

    def __init__(self, config: GenerationConfig, seed: int = 0, iteration: int = 0) -> None:
        self.config = config
        self.seed = int(seed)
        self.iteration = int(iteration)
        #: the registry entry of ``generation.fidelity``: how to search, how to check, what kind
        self.backend = fidelity_backend(config.fidelity)
        self.check: FidelityCheck = self.backend.make_check(config.tau)
        #: for faiss-ivf: the exact check run beside the approximate one on a sample of rows
        self._exact_twin: tuple[CatalogueIndex, FidelityCheck] | None = None
        self.agreement_rows = config.ivf_agreement_rows
        self.agreement_every = 4

    # ------------------------------------------------------------------ public API
    def generate(
        self,
        model: SequentialRecommender,
        store: SequenceStore,
        held_out: np.ndarray,
        *,
        rank: int = 0,
        world: int = 1,
        index: CatalogueIndex | None = None,
        skip: np.ndarray | None = None,
    ) -> Candidates:
        """Decode every (seed, attempt) row of this rank's shard of the seeds (no filtering yet).

        ``held_out[u]`` are real user u's validation and test items: they are never fidelity
        targets, whatever sequence of u's lineage seeds the attempt. ``skip``: indices of D_k
        that seed nothing (sequences replaced for training, see :func:`seed_indices`).
        """
        cfg = self.config
        seeds = seed_indices(store, cfg, skip)[rank::world]
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        if index is None:
            index = self.build_index(model)
        if self.backend.approximate and self.agreement_rows > 0:
            with torch.inference_mode():
                emb = model.output_embeddings().detach()
            self._exact_twin = (build_index("exact", emb, chunk_items=cfg.chunk_items), make_check("exact", cfg.tau))
        counters = {
            "attempts": 0.0,
            "proposed_steps": 0.0,
            "accepted_steps": 0.0,
            "forward_s": 0.0,
            "search_s": 0.0,
            "sampling_s": 0.0,
            "check_s": 0.0,
        }
        rows_seq = np.repeat(seeds, cfg.m)
        rows_att = np.tile(np.arange(cfg.m), len(seeds))
        # rows of similar prefix and seed length share a batch, so padded batches stay narrow;
        # the draws are keyed per row and the output is re-sorted, so the order changes nothing
        order = np.lexsort((store.lengths[rows_seq], self._prefix_lengths(store, rows_seq, rows_att)))
        rows_seq, rows_att = rows_seq[order], rows_att[order]
        outputs: list[Candidates] = []
        bar = progress_bar(len(rows_seq), cfg.progress and rank == 0, "generating", "attempt")
        t0 = time.perf_counter()
        try:
            with torch.inference_mode():
                for lo in range(0, len(rows_seq), cfg.batch_size):
                    part = self._decode_batch(
                        model,
                        store,
                        held_out,
                        index,
                        device,
                        rows_seq[lo : lo + cfg.batch_size],
                        rows_att[lo : lo + cfg.batch_size],
                        counters,
                    )
                    outputs.append(part)
                    faults.point(f"generation:iter{self.iteration}")
                    if bar is not None:
                        bar.update(len(part.seq))
                        # the same two counts the end-of-generation log line reports, before the
                        # min_len, duplicate and cap filters
                        bar.set_postfix(
                            steps=int(counters["accepted_steps"]),
                            candidates=sum(int((p.accepted >= 1).sum()) for p in outputs),
                        )
        finally:
            if bar is not None:
                bar.close()
            model.train(was_training)
        counters["attempts"] = float(len(rows_seq))
        counters["wall_s"] = time.perf_counter() - t0
        result = Candidates.concat(outputs) if outputs else Candidates.concat([])
        result.counters = counters
        return result

    def build_index(self, model: SequentialRecommender) -> CatalogueIndex:
        """The catalogue index over the model's current item table (built once per iteration)."""
        cfg = self.config
        device = next(model.parameters()).device
        faiss_device = "cpu"
        if self.backend.faiss:
            faiss_device = resolve_index_device(cfg.index_device, device)
        with torch.inference_mode():
            emb = model.output_embeddings().detach()
        return build_index(
            cfg.fidelity,
            emb,
            chunk_items=cfg.chunk_items,
            nlist=cfg.nlist,
            nprobe=cfg.nprobe,
            device=faiss_device,
            seed=self.seed,
        )

    def finalize(self, candidates: Candidates, store: SequenceStore, real_interactions: int) -> GenerationResult:
        """Keep rows with an accepted step and length >= min_len, drop duplicates, apply the cap."""
        return finalize(candidates, store, self.config, self.seed, self.iteration, real_interactions)

    def run(
        self,
        model: SequentialRecommender,
        store: SequenceStore,
        held_out: np.ndarray,
        real_interactions: int | None = None,
    ) -> GenerationResult:
        """Single-process convenience: :meth:`generate` then :meth:`finalize`."""
        if real_interactions is None:
            real_interactions = int(store.lengths[store.generation == 0].sum())
        return self.finalize(self.generate(model, store, held_out), store, real_interactions)

    # ------------------------------------------------------------------ one batch of rows
    def _decode_batch(
        self,
        model: SequentialRecommender,
        store: SequenceStore,
        held_out: np.ndarray,
        index: CatalogueIndex,
        device: torch.device,
        row_seq: np.ndarray,
        row_att: np.ndarray,
        counters: dict[str, float],
    ) -> Candidates:
        cfg = self.config
        B = len(row_seq)
        lengths = store.lengths[row_seq]
        prefix = self._prefix_lengths(store, row_seq, row_att)
        # ---- the seed's items, first occurrences, context membership, targets, pool
        Ls = int(lengths.max())
        S_np = store.padded(row_seq, Ls, align="right")
        is_first = first_occurrences(S_np)
        # a first occurrence inside the prefix is an item of the context (later ones are not first)
        in_ctx = np.arange(Ls)[None, :] < prefix[:, None]
        tgt_np = initial_targets(S_np, prefix, held_out[store.root[row_seq]])
        counters["held_out_excluded_targets"] = counters.get("held_out_excluded_targets", 0.0) + float(
            (is_first & ~in_ctx).sum() - tgt_np.sum()
        )
        pool_np = is_first & (~in_ctx if cfg.exclude_context else True)
        stop_len = np.full(B, cfg.max_len, dtype=np.int64)
        if not self.backend.tests_targets:
            stop_len = self._none_stop_lengths(store, row_seq, row_att, prefix)

        S = torch.from_numpy(S_np).to(device)
        tgt = torch.from_numpy(tgt_np).to(device)
        # what the checks tested, per original row: the leakage guard re-derives it from the output
        record = self.backend.tests_targets
        tested = torch.zeros_like(tgt)
        pool = torch.from_numpy(np.asarray(pool_np)).to(device)
        ctx = torch.zeros(B, cfg.max_len, dtype=torch.long, device=device)
        w = min(Ls, cfg.max_len)
        ctx[:, :w] = S[:, :w]
        ctx_len = torch.from_numpy(prefix).to(device)
        ctx[torch.arange(cfg.max_len, device=device)[None, :] >= ctx_len[:, None]] = 0
        accepted = torch.zeros(B, dtype=torch.long, device=device)
        stop = torch.from_numpy(stop_len).to(device)
        rows = torch.arange(B, device=device)
        # the keys of each live row's random draws, kept on the device (no per-step host copy)
        row_seq_t = torch.from_numpy(row_seq).to(device)
        row_att_t = torch.from_numpy(row_att).to(device)

        emb = model.output_embeddings()

        def k_search(n_ctx: torch.Tensor) -> int:
            # enough results for the check, and top_k left after removing the context's items
            # (which, after this step's item is accepted, can be one longer than now)
            extra = int(n_ctx.max()) + 1 if cfg.exclude_context else 0
            return max(self.check.k_needed, top_k + extra)

        top_k = cfg.top_k
        remaining_targets = cfg.check_targets == "remaining" and self.backend.tests_targets
        sample_temperature = cfg.temperature / model.logit_scale

        done_rows: list[torch.Tensor] = []
        done_ctx: list[torch.Tensor] = []
        done_len: list[torch.Tensor] = []
        done_acc: list[torch.Tensor] = []

        start_dec, extend_dec, select_dec = decoding_functions(model, cfg.kv_cache)

        def forward_start(c: torch.Tensor, n: torch.Tensor):  # noqa: ANN202
            width = int(n.max())
            left = left_align(c, n, width)
            return start_dec(left)

        t = time.perf_counter()
        h, state = forward_start(ctx, ctx_len)
        counters["forward_s"] += time.perf_counter() - t
        vals, ids, s_scores = search_step(index, emb, S, h, k_search(ctx_len), counters)

        # rows without any target cannot pass a check: they stop before generating
        if self.backend.tests_targets:
            alive = tgt.any(dim=1)
        else:
            alive = torch.ones(B, dtype=torch.bool, device=device)
        # step counts stay on the device until the batch is done (a host read would sync each step)
        proposed = torch.zeros((), dtype=torch.long, device=device)
        accepted_steps = torch.zeros((), dtype=torch.long, device=device)
        step = 0
        while True:
            if not bool(alive.all()):
                dead = ~alive
                done_rows.append(rows[dead])
                done_ctx.append(ctx[dead])
                done_len.append(ctx_len[dead])
                done_acc.append(accepted[dead])
                keep = alive.nonzero().squeeze(1)
                if keep.numel() == 0:
                    break
                rows, S, tgt, pool, ctx, ctx_len = rows[keep], S[keep], tgt[keep], pool[keep], ctx[keep], ctx_len[keep]
                row_seq_t, row_att_t = row_seq_t[keep], row_att_t[keep]
                accepted, stop, h = accepted[keep], stop[keep], h[keep]
                vals, ids, s_scores = vals[keep], ids[keep], s_scores[keep]
                state = select_dec(state, keep)
            n = rows.numel()
            # ---- sample the next item from the current scores
            t = time.perf_counter()
            u_pool = draws.keyed_uniform_torch(self.seed, self.iteration, row_seq_t, row_att_t, step, draws.POOL)
            u_pick = draws.keyed_uniform_torch(self.seed, self.iteration, row_seq_t, row_att_t, step, draws.PICK)
            exploit = u_pool < cfg.p
            ex_v = s_scores.masked_fill(~pool, NEG_INF)
            kk = min(top_k, ex_v.shape[1])
            ex_v, ex_pos = torch.topk(ex_v, kk, dim=1)
            ex_ids = S.gather(1, ex_pos)
            if kk < top_k:
                ex_v = torch.cat([ex_v, ex_v.new_full((n, top_k - kk), NEG_INF)], dim=1)
                ex_ids = torch.cat([ex_ids, ex_ids.new_zeros((n, top_k - kk))], dim=1)
            gl_v = vals.masked_fill(ids < 1, NEG_INF)
            if cfg.exclude_context:
                in_c = (ids.unsqueeze(2) == ctx.unsqueeze(1)).any(dim=2)
                gl_v = gl_v.masked_fill(in_c, NEG_INF)
            gl_v, gl_pos = torch.topk(gl_v, top_k, dim=1)
            gl_ids = ids.gather(1, gl_pos)
            cand_v = torch.where(exploit.unsqueeze(1), ex_v, gl_v)
            cand_i = torch.where(exploit.unsqueeze(1), ex_ids, gl_ids)
            choice = draws.pick(cand_v, u_pick, sample_temperature)
            has_cand = choice >= 0
            item = cand_i.gather(1, choice.clamp(min=0).unsqueeze(1)).squeeze(1)
            item = torch.where(has_cand, item, torch.ones_like(item))
            counters["sampling_s"] += time.perf_counter() - t
            # ---- one forward on ctx' and the fidelity check on its scores
            t = time.perf_counter()
            h, state = extend_dec(state, item)
            counters["forward_s"] += time.perf_counter() - t
            vals, ids, s_scores = search_step(index, emb, S, h, k_search(ctx_len), counters)
            t = time.perf_counter()
            is_item = S == item.unsqueeze(1)
            check_tgt, exhausted = step_targets(tgt, is_item, remaining_targets)
            ok = (self.check.accept(vals, ids, S * check_tgt) | exhausted) & has_cand
            if record:
                decided = rows[has_cand]
                tested.index_put_((decided,), tested[decided] | check_tgt[has_cand])
            counters["check_s"] += time.perf_counter() - t
            if self._exact_twin is not None and step % self.agreement_every == 0:
                t = time.perf_counter()
                self._measure_agreement(h, S * check_tgt, ok & ~exhausted, has_cand & ~exhausted, counters)
                counters["agreement_s"] = counters.get("agreement_s", 0.0) + time.perf_counter() - t
            proposed = proposed + has_cand.sum()
            accepted_steps = accepted_steps + ok.sum()
            # ---- accepted rows grow; the item leaves the targets (and the pool)
            pos_new = ctx_len.clamp(max=cfg.max_len - 1)
            ctx[torch.arange(n, device=device)[ok], pos_new[ok]] = item[ok]
            ctx_len = ctx_len + ok.long()
            accepted = accepted + ok.long()
            hit = is_item & ok.unsqueeze(1)
            tgt = tgt & ~hit
            if cfg.exclude_context:
                pool = pool & ~hit
            alive = ok & (ctx_len < cfg.max_len) & (ctx_len < stop)
            if self.backend.tests_targets:
                alive &= tgt.any(dim=1)
            step += 1

        counters["proposed_steps"] += float(proposed)
        counters["accepted_steps"] += float(accepted_steps)
        rows_all = torch.cat(done_rows).cpu().numpy()
        order = np.argsort(rows_all, kind="stable")
        lens = torch.cat(done_len).cpu().numpy()[order]
        ctx_all = torch.cat(done_ctx).cpu().numpy()[order]
        acc = torch.cat(done_acc).cpu().numpy()[order]
        mask = np.arange(cfg.max_len)[None, :] < lens[:, None]
        offsets = np.zeros(B + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        seqs = SequenceStore(
            ctx_all[mask].astype(np.int32), offsets, store.root[row_seq], np.full(B, self.iteration + 1)
        )
        targets = tested_items(S_np, tested.cpu().numpy(), store.root[row_seq]) if record else None
        return Candidates(row_seq.copy(), row_att.copy(), prefix, acc.astype(np.int64), seqs, targets=targets)

    def _prefix_lengths(self, store: SequenceStore, row_seq: np.ndarray, row_att: np.ndarray) -> np.ndarray:
        """RSIR-SPEC §3 step 1: the prefix length, uniform in 1..len-1 (capped so a step fits)."""
        if self.config.prefix == "first":
            return np.ones(len(row_seq), dtype=np.int64)
        hi = np.minimum(store.lengths[row_seq] - 1, self.config.max_len - 1)
        u = draws.keyed_uniform(self.seed, self.iteration, row_seq, row_att, 0, draws.PREFIX)
        return 1 + np.floor(u * hi).astype(np.int64)

    def _measure_agreement(
        self,
        h: torch.Tensor,
        targets: torch.Tensor,
        ok: torch.Tensor,
        has_cand: torch.Tensor,
        counters: dict[str, float],
    ) -> None:
        """Compare the approximate decisions with the exact check on the first rows of the batch."""
        assert self._exact_twin is not None
        index, check = self._exact_twin
        n = min(self.agreement_rows, h.shape[0])
        sel = has_cand[:n]
        if not bool(sel.any()):
            return
        v, i = index.search(h[:n][sel], check.k_needed)
        exact = check.accept(v, i, targets[:n][sel])
        counters["agreement_checked"] = counters.get("agreement_checked", 0.0) + float(sel.sum())
        counters["agreement_equal"] = counters.get("agreement_equal", 0.0) + float((exact == ok[:n][sel]).sum())
        counters["agreement_exact_accepts"] = counters.get("agreement_exact_accepts", 0.0) + float(exact.sum())

    def _none_stop_lengths(
        self, store: SequenceStore, row_seq: np.ndarray, row_att: np.ndarray, prefix: np.ndarray
    ) -> np.ndarray:
        """Without a check, an attempt stops at a length drawn from D_k's length distribution."""
        lengths = np.sort(store.lengths[store.lengths >= 2])
        u = draws.keyed_uniform(self.seed, self.iteration, row_seq, row_att, 0, draws.STOP_LENGTH)
        drawn = lengths[np.minimum((u * len(lengths)).astype(np.int64), len(lengths) - 1)]
        return np.clip(drawn, prefix + 1, self.config.max_len)
