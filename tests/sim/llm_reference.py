#!/usr/bin/env python3
"""Independent reference model of the iteration-level decoder simulator (docs/decoders.md).

Usage:  python3 tests/sim/llm_reference.py CASE.json > RESULTS.json
        python3 tests/sim/llm_reference.py --self-test

Python 3 standard library only.  A direct, slow, event-by-event simulation with plain lists, written
to follow docs/decoders.md literally.  CASE.json / RESULTS.json: see `simulate` and `Sim.results`.
Requests may also carry "slo_ns" (the end-to-end SLO, docs/decoders.md "Requests"); absent = none.

AMBIGUITIES / INCONSISTENCIES IN docs/decoders.md AND THE READING IMPLEMENTED HERE
--------------------------------------------------------------------------------
 1. least-tokens: "prefill tokens left = L - c" is negative for a decoding request (c grows past L
    by one per decode), whereas the TTFT prediction says "L - c when c < L, else 0".  Implemented:
    max(0, L - c) in both places.
 2. Dispatch reads the groups' state at `decided` "(every event at that time processed first)", but
    "Order of events" places admissions, readiness and formations at that time AFTER dispatch.
    Implemented: the "Order of events" list (dispatch sees iteration ends and stage finishes at that
    time, but not admissions / formations at that time).
 3. When formations are attempted.  "A formation happens ... when stage 0 frees, after an iteration
    ends, after a request becomes ready", and after a failed formation "stage 0 waits for the next
    event".  Implemented: formation is attempted at time t in group g only if, at t, stage 0 of g
    frees, or an iteration of g ends, or a request admitted to g becomes ready (and stage 0 of g is
    free); events of other groups, dispatches and admissions (when exec > 0) are not triggers.  This
    matters because a dropped attempt can change state (a requester that preempts itself leaves an
    empty, dropped iteration but a request moved to waiting): it is not retried until the group's
    next trigger.  In principle (several models sharing a pool) every model can drop with
    self-preemptions while nothing is in flight and no arrival is pending, and the group then stalls
    for ever (not observed in random cases).  The document does not say what such requests are;
    they are reported with status "incomplete" (finish_ns null).
 4. Victim choice in steps 1-2: "the running request last in admission order that is neither in
    flight nor already in this iteration" -- the requester itself also satisfies that.  Implemented:
    the requester is excluded from the candidates; the victim is the last in admission order among
    the model's other running requests not in flight and not taken in this iteration (in step 1 this
    may be a running prefill admitted BEFORE the requester); only when there is none is the
    requester preempted.
 5. Step 3, a head that gets some of its blocks and then cannot take one: does it keep the blocks
    taken?  Implemented: they are released (it "stays waiting", and a waiting request holds
    ceil(0 / block_tokens) = 0 blocks).
 6. "Up to pp iterations are in flight" contradicts the stage formula (stage 0 frees at end_0 even if
    stage 1 is still busy, so iterations can queue between stages when later stages are slower, e.g.
    two models).  Implemented: the formulas (stage 0 free at end_0; no bound on iterations in flight).
 7. round-robin multi-model policy: the model "chosen last" before any choice, and whether a dropped
    attempt counts as chosen.  Implemented: initially the first model with work in group order;
    "chosen" = the model of the last iteration actually formed (dropped attempts do not count).
 8. Policy order for the "next model" after a dropped attempt: computed once, at the start of the
    formation, over the models with work then (a drop cannot change another model's work, and a
    preempted request stays schedulable, so recomputing gives the same order).
 9. step 3 "unless a preemption happened while forming this iteration": preemptions in an earlier,
    dropped attempt of another model in the same formation do not count (per iteration attempt).
10. least-kv: "used bytes / pool bytes" compared exactly (fractions), not in double; a pool <= 0 gives
    share 0 when nothing is used, +infinity otherwise.  (A double comparison can only produce false
    ties, never reverse an order.)
11. "finished" (for outstanding counts and Q): at the iteration end e (blocks freed then), not at the
    token time e + reply.  A request in transit (dispatched, not yet received) counts, with c = 0,
    L = I; "not yet admitted" means not in the running list.
12. fcfs "arrived first": arrival a (not ready); ties to the model listed first.  slack: a request
    with generated == 0 uses a + ttft_slo - reply (its TPOT SLO is ignored), one with g >= 1 uses
    first + g * tpot_slo - reply (its TTFT SLO is ignored); the end-to-end slo_s gives no deadline
    (the slack rule names only the TTFT and TPOT SLOs), nor does it enter ttft admission.
13. max_seqs is per model (count of the model's running requests, in flight included), as step 3
    says; decodes and running prefills are not limited by it.
14. The dense table is only defined on [T_0, T_last]; T outside is an error here.  At a grid point
    the table value is used (not the interpolation formula from the previous point).
15. TPOT for O = 1 is 0 (so a negative TPOT SLO would miss); rule 1 uses ceil((I + O - 1) / block)
    blocks, the most a request can hold (recompute length I + generated <= I + O - 1).
16. Iteration ends of different groups at the same time: order irrelevant (groups are independent
    until the dispatch step, which comes after all of them).
17. Q (and least-tokens) counts every request dispatched to the group and not finished or refused,
    including requests dispatched at the same instant but later in trace order and not yet received
    (all dispatches at a time precede all admissions at that time): with zero dispatch delay, a
    burst's later requests count against the earlier ones' TTFT admission.  Implemented literally.
18. LIVELOCK: with pp >= 2, in-flight requests hold blocks and cannot be preempted, and step 3
    admits new heads whenever blocks are free right now; a running prefill that later lacks a block
    and finds no victim preempts itself (c = 0).  With a pool smaller than the concurrent prefill
    working set this thrashes for ever (found with random cases: two models, pp = 3, B = 16: requests
    preempted hundreds of times at c close to L, none ever completing).  The document gives no
    progress guarantee.  This model stops after 20 * sum(I + O) + 1000 iterations with an error
    (exit status 3, no RESULTS).  The document should add a rule (e.g. a running prefill may
    preempt, or step 3 must leave room), or the engines must detect and report it identically.
"""

import json
import math
import sys
from fractions import Fraction


def ceil_div(a, b):
    return -((-a) // b)


class LivelockError(RuntimeError):
    pass


class Req:
    def __init__(self, idx, d, delays):
        self.idx = idx
        self.a = int(d["arrival_ns"])
        self.m = int(d["model"])
        self.I = int(d["input"])
        self.O = int(d["output"])
        self.ttft = d.get("ttft_slo_ns")
        self.tpot = d.get("tpot_slo_ns")
        self.e2e = d.get("slo_ns")
        self.decided = self.a + delays["client"]
        self.received = self.decided + delays["dispatch"]
        self.ready = self.received + delays["exec"]
        self.state = "pending"  # pending transit waiting running finished rejected no_replica
        self.group = -1
        self.L = self.I
        self.c = 0
        self.generated = 0
        self.first = None
        self.last = None
        self.finish = None
        self.preemptions = 0
        self.blocks = 0
        self.in_flight = False

    def outstanding(self):
        return self.state in ("transit", "waiting", "running")


class HostedModel:
    def __init__(self, d, f, pp, B):
        self.model = int(d["model"])
        self.pp = pp
        self.weight = [int(x) for x in d["weight_bytes"]]
        self.act = [int(x) for x in d["act_bytes_per_token"]]
        self.kv = [int(x) for x in d["kv_bytes_per_token"]]
        self.tokens = [int(x) for x in d["tokens"]]
        self.dense_s = [[float(x) for x in row] for row in d["dense_s"]]
        fe = f * 1e9  # (f * 1e9) first, then times each profile value
        self.a_s = [fe * float(x) for x in d["prefill_pair_s"]]
        self.b_s = [fe * float(x) for x in d["decode_token_s"]]
        self.c_ns = [math.floor(fe * float(x) + 0.5) for x in d["iteration_s"]]
        self.fe = fe
        # t_B: one iteration of B prefill tokens and nothing else, through every stage
        self.t_B = sum(self.stage_ns(s, B, B * (B + 1) // 2, 0) for s in range(pp))

    def dense(self, s, T):
        tk = self.tokens
        ds = self.dense_s[s]
        if T < tk[0] or T > tk[-1]:
            raise ValueError("T=%d outside the dense grid" % T)
        for j in range(len(tk)):
            if tk[j] == T:
                v = ds[j]
                break
            if tk[j] < T < tk[j + 1]:
                v = ds[j] + (ds[j + 1] - ds[j]) * float(T - tk[j]) / float(tk[j + 1] - tk[j])
                break
        return math.floor(self.fe * v + 0.5)

    def stage_ns(self, s, T, P, D):
        var = math.floor(self.a_s[s] * float(P) + self.b_s[s] * float(D) + 0.5)
        return max(1, self.dense(s, T) + var + self.c_ns[s])


class Iteration:
    def __init__(self, lm, items, ends):
        self.lm = lm          # local model index in the group
        self.items = items    # [(req, tokens, emits)] in iteration order
        self.ends = ends      # end time at each stage


class Group:
    def __init__(self, gi, d, case):
        self.gi = gi
        self.pp = int(d["stages"])
        self.f = float(d["f"])
        self.B = int(d["max_batch_tokens"])
        self.S = int(d["max_seqs"])
        self.policy = d["policy"]
        self.hosted = [HostedModel(hm, self.f, self.pp, self.B) for hm in d["models"]]
        self.local = {h.model: i for i, h in enumerate(self.hosted)}
        budget = int(case["budget_bytes"])
        self.pool = []
        for k in range(self.pp):
            w = sum(h.weight[k] for h in self.hosted)
            act = max(h.act[k] * self.B for h in self.hosted)
            self.pool.append(budget - w - act)
        bt = int(case["block_tokens"])
        self.bb = [[bt * h.kv[k] for k in range(self.pp)] for h in self.hosted]
        self.used = [0] * self.pp
        n = len(self.hosted)
        self.waiting = [[] for _ in range(n)]
        self.running = [[] for _ in range(n)]
        self.free = [0] * self.pp   # when each stage finished its previous iteration
        self.inflight = []          # Iterations not yet ended (formation order)
        self.rr_last = None
        self.trigger = False


class Sim:
    def __init__(self, case):
        self.case = case
        self.bt = int(case["block_tokens"])
        dl = case.get("delays_ns", {})
        self.delays = {k: int(dl.get(k, 0)) for k in ("client", "dispatch", "exec", "fixed", "reply")}
        self.admission = case.get("admission", "none")
        self.dispatch_policy = case.get("dispatch", "least-tokens")
        self.groups = [Group(i, g, case) for i, g in enumerate(case["groups"])]
        self.replicas = [list(r) for r in case["replicas"]]
        self.reqs = [Req(i, r, self.delays) for i, r in enumerate(case["requests"])]
        self.rr_count = [0] * len(case["models"])
        self.iterations = 0
        # Livelock guard (reading 18): every formed iteration computes >= 1 token, so a run without
        # thrashing stays far below this; beyond it the case is reported as an error, not a result.
        self.max_iterations = 20 * sum(r.I + r.O for r in self.reqs) + 1000

    # ---- KV blocks -------------------------------------------------------------------------
    def take_block(self, g, r):
        bb = g.bb[g.local[r.m]]
        for k in range(g.pp):
            if g.used[k] + bb[k] > g.pool[k]:
                return False
        for k in range(g.pp):
            g.used[k] += bb[k]
        r.blocks += 1
        return True

    def free_blocks(self, g, r):
        bb = g.bb[g.local[r.m]]
        for k in range(g.pp):
            g.used[k] -= r.blocks * bb[k]
        r.blocks = 0

    def preempt(self, g, lm, r):
        self.free_blocks(g, r)
        r.c = 0
        r.L = r.I + r.generated
        r.state = "waiting"
        r.preemptions += 1
        g.running[lm].remove(r)
        g.waiting[lm].insert(0, r)   # front; ready unchanged

    # ---- dispatch --------------------------------------------------------------------------
    def tokens_left(self, g):
        tot = 0
        for r in self.reqs:
            if r.group == g.gi and r.outstanding():
                tot += max(0, r.L - r.c) + (r.O - r.generated)
        return tot

    def prefill_left(self, g, exclude):
        q = 0
        for r in self.reqs:
            if r is not exclude and r.group == g.gi and r.outstanding() and r.c < r.L:
                q += r.L - r.c
        return q

    def kv_share(self, g):
        best = None
        for k in range(g.pp):
            if g.pool[k] > 0:
                s = Fraction(g.used[k], g.pool[k])
            else:
                s = Fraction(0) if g.used[k] == 0 else math.inf
            if best is None or s > best:
                best = s
        return best

    def predicted_ttft(self, g, r):
        q = self.prefill_left(g, r)
        hm = g.hosted[g.local[r.m]]
        return self.delays["exec"] + ceil_div(q + r.I, g.B) * hm.t_B + self.delays["reply"]

    def dispatch(self, r):
        reps = self.replicas[r.m]
        if not reps:
            r.state = "no_replica"
            r.finish = r.decided
            return
        pol = self.dispatch_policy
        if pol == "round-robin":
            choice = reps[self.rr_count[r.m] % len(reps)]
        else:
            choice = None
            best = None
            for gi in reps:
                g = self.groups[gi]
                if pol == "least-tokens":
                    v = self.tokens_left(g)
                elif pol == "least-kv":
                    v = self.kv_share(g)
                elif pol == "best-ttft":
                    v = self.predicted_ttft(g, r)
                else:
                    raise ValueError("unknown dispatch policy " + pol)
                if best is None or v < best:
                    best = v
                    choice = gi
        self.rr_count[r.m] += 1
        r.group = choice
        r.state = "transit"

    # ---- admission -------------------------------------------------------------------------
    def admit(self, r):
        g = self.groups[r.group]
        lm = g.local[r.m]
        nb = ceil_div(r.I + r.O - 1, self.bt)
        for k in range(g.pp):
            if nb * g.bb[lm][k] > g.pool[k]:
                r.state = "rejected"
                r.finish = r.received
                return
        if self.admission == "ttft" and r.ttft is not None:
            if self.predicted_ttft(g, r) + self.delays["fixed"] > r.ttft:
                r.state = "rejected"
                r.finish = r.received
                return
        r.state = "waiting"
        g.waiting[lm].append(r)

    # ---- multi-model policy ----------------------------------------------------------------
    def schedulable(self, g, lm, now):
        out = [r for r in g.running[lm] if not r.in_flight]
        out += [r for r in g.waiting[lm] if r.ready <= now]
        return out

    def deadline(self, r):
        rep = self.delays["reply"]
        if r.generated == 0:
            return None if r.ttft is None else r.a + r.ttft - rep
        return None if r.tpot is None else r.first + r.generated * r.tpot - rep

    def policy_order(self, g, now):
        n = len(g.hosted)
        work = [lm for lm in range(n) if self.schedulable(g, lm, now)]
        if not work:
            return []
        if g.policy == "round-robin":
            start = 0 if g.rr_last is None else g.rr_last + 1
            return [(start + i) % n for i in range(n) if (start + i) % n in work]
        if g.policy == "fcfs":
            return sorted(work, key=lambda lm: (min(r.a for r in self.schedulable(g, lm, now)), lm))
        if g.policy == "slack":
            def key(lm):
                ds = [self.deadline(r) for r in self.schedulable(g, lm, now)]
                ds = [d for d in ds if d is not None]
                return (0, min(ds), lm) if ds else (1, 0, lm)
            return sorted(work, key=key)
        raise ValueError("unknown policy " + g.policy)

    # ---- forming an iteration ----------------------------------------------------------------
    def acquire(self, g, lm, r, target, in_iter, allow_preempt, ctx):
        """Take the blocks r lacks for `target` computed tokens, one at a time.
        Returns True when done; False when it failed (step 3) or r preempted itself (steps 1-2)."""
        need = ceil_div(target, self.bt)
        while r.blocks < need:
            if self.take_block(g, r):
                continue
            if not allow_preempt:
                return False
            victim = None
            for x in g.running[lm]:
                if x is not r and not x.in_flight and x not in in_iter:
                    victim = x          # last in admission order wins
            ctx["preempted"] = True
            if victim is not None:
                self.preempt(g, lm, victim)
                continue
            self.preempt(g, lm, r)
            return False
        return True

    def try_form(self, g, lm, now):
        budget = g.B
        taken = []      # [(req, t, is_decode)]
        in_iter = []
        ctx = {"preempted": False}
        end12 = False
        # step 1: decodes
        for r in list(g.running[lm]):
            if r.state != "running" or r.in_flight or r.c < r.L:
                continue
            if budget == 0:
                end12 = True
                break
            if not self.acquire(g, lm, r, r.c + 1, in_iter, True, ctx):
                end12 = True
                break
            budget -= 1
            taken.append((r, 1, True))
            in_iter.append(r)
        # step 2: running prefills
        if not end12:
            for r in list(g.running[lm]):
                if r.state != "running" or r.in_flight or r.c >= r.L or r in in_iter:
                    continue
                if budget == 0:
                    break
                t = min(r.L - r.c, budget)
                if not self.acquire(g, lm, r, r.c + t, in_iter, True, ctx):
                    break
                budget -= t
                taken.append((r, t, False))
                in_iter.append(r)
        # step 3: new requests
        if not ctx["preempted"]:
            wq = g.waiting[lm]
            while budget != 0 and len(g.running[lm]) < g.S and wq and wq[0].ready <= now:
                h = wq[0]
                t = min(h.L, budget)
                if not self.acquire(g, lm, h, h.c + t, in_iter, False, ctx):
                    self.free_blocks(g, h)   # reading 5: partial blocks released
                    break
                wq.pop(0)
                h.state = "running"
                g.running[lm].append(h)
                budget -= t
                taken.append((h, t, False))
                in_iter.append(h)
        if not taken:
            return None
        T = P = D = 0
        items = []
        for r, t, dec in taken:
            k = r.c
            T += t
            if dec:
                D += k + 1
            else:
                P += t * k + t * (t + 1) // 2
            r.c += t
            r.in_flight = True
            items.append((r, t, dec or r.c == r.L))
        hm = g.hosted[lm]
        ends = []
        prev = now
        for s in range(g.pp):
            cost = hm.stage_ns(s, T, P, D)
            e = (now if s == 0 else max(prev, g.free[s])) + cost
            ends.append(e)
            g.free[s] = e
            prev = e
        return Iteration(lm, items, ends)

    def form(self, g, now):
        for lm in self.policy_order(g, now):
            it = self.try_form(g, lm, now)
            if it is not None:
                g.inflight.append(it)
                g.rr_last = lm
                self.iterations += 1
                if self.iterations > self.max_iterations:
                    raise LivelockError("more than %d iterations at t=%d: preemption thrashing"
                                        % (self.max_iterations, now))
                return

    def end_iteration(self, g, it, e):
        rep = self.delays["reply"]
        for r, t, emits in it.items:
            if emits:
                r.generated += 1
                tok = e + rep
                if r.first is None:
                    r.first = tok
                r.last = tok
                if r.generated == r.O:
                    self.free_blocks(g, r)
                    g.running[it.lm].remove(r)
                    r.state = "finished"
                    r.finish = tok
        for r, t, emits in it.items:
            r.in_flight = False

    # ---- main loop -------------------------------------------------------------------------
    def next_time(self, after):
        cand = []
        for g in self.groups:
            for it in g.inflight:
                cand.append(it.ends[-1])
            cand.append(g.free[0])
        for r in self.reqs:
            if r.state == "pending":
                cand.append(r.decided)
            elif r.state == "transit":
                cand.append(r.received)
            elif r.state == "waiting":
                cand.append(r.ready)
        cand = [t for t in cand if after is None or t > after]
        return min(cand) if cand else None

    def run(self):
        t = None
        while True:
            t = self.next_time(t)
            if t is None:
                break
            # 1. iteration ends (last stage finishes)
            for g in self.groups:
                for it in [it for it in g.inflight if it.ends[-1] == t]:
                    g.inflight.remove(it)
                    self.end_iteration(g, it, t)
                    g.trigger = True
            # 2. other stage finishes (only stage 0 freeing matters)
            for g in self.groups:
                if g.free[0] == t:
                    g.trigger = True
            # 3. dispatch, trace order
            for r in self.reqs:
                if r.state == "pending" and r.decided == t:
                    self.dispatch(r)
            # 4. admission, trace order
            for r in self.reqs:
                if r.state == "transit" and r.received == t:
                    self.admit(r)
            # 5. requests becoming ready
            for r in self.reqs:
                if r.state == "waiting" and r.ready == t:
                    self.groups[r.group].trigger = True
            # 6. formations, by group index
            for g in self.groups:
                if g.trigger and g.free[0] <= t:
                    self.form(g, t)
                g.trigger = False
        return self.results()

    def results(self):
        out = []
        for r in self.reqs:
            if r.state in ("rejected", "no_replica"):
                st = r.state
                first = None
            elif r.state == "finished":
                good = True
                if r.ttft is not None and r.first - r.a > r.ttft:
                    good = False
                if r.tpot is not None:
                    if r.O == 1:
                        if r.tpot < 0:
                            good = False
                    elif r.last - r.first > r.tpot * (r.O - 1):
                        good = False
                if r.e2e is not None and r.last - r.a > r.e2e:
                    good = False
                st = "good" if good else "late"
                first = r.first
            else:
                st = "incomplete"
                first = r.first
            out.append({"status": st, "group": r.group, "first_token_ns": first,
                        "finish_ns": r.finish, "generated": r.generated,
                        "preemptions": r.preemptions})
        return {"requests": out, "iterations": self.iterations}


def simulate(case):
    """case: the CASE.json object; returns the RESULTS.json object."""
    return Sim(case).run()


# ================================================================================================
# Self-test: hand-computed cases.
# Standard profile (f = 1, every stage): dense_s(T) = T * 1e-6 at grid points 1,2,4,...,64, so
# dense_ns[T] = 1000 * T (also between grid points, by linear interpolation); prefill_pair_s = 1e-9
# (1 ns per attention pair); decode_token_s = 1e-9 (1 ns per context token); iteration_s = 1e-5
# (c = 10000 ns).  So stage_ns = 1000 T + P + D + 10000.
# A prefill chunk of t tokens after k: P = t k + t (t + 1) / 2; a decode after k: D = k + 1.
# ================================================================================================

GRID = [1, 2, 4, 8, 16, 32, 64]


def hosted(model, pp=1, kv=1, iteration_s=1e-5, weight=0, act=0):
    return {"model": model, "weight_bytes": [weight] * pp, "act_bytes_per_token": [act] * pp,
            "kv_bytes_per_token": [kv] * pp, "tokens": GRID,
            "dense_s": [[t * 1e-6 for t in GRID] for _ in range(pp)],
            "prefill_pair_s": [1e-9] * pp, "decode_token_s": [1e-9] * pp,
            "iteration_s": ([iteration_s] * pp) if not isinstance(iteration_s, list) else iteration_s}


def make_case(groups, replicas, requests, n_models, budget=10 ** 9, block=16, delays=None,
              dispatch="least-tokens", admission="none"):
    d = {"client": 0, "dispatch": 0, "exec": 0, "fixed": 0, "reply": 0}
    d.update(delays or {})
    reqs = []
    for (a, m, i, o, ttft, tpot) in requests:
        reqs.append({"arrival_ns": a, "model": m, "input": i, "output": o,
                     "ttft_slo_ns": ttft, "tpot_slo_ns": tpot})
    return {"block_tokens": block, "delays_ns": d, "admission": admission, "dispatch": dispatch,
            "budget_bytes": budget, "stage_factor": 1.0,
            "models": [{"name": "m%d" % i} for i in range(n_models)],
            "groups": groups, "replicas": replicas, "requests": reqs}


def group(models, pp=1, B=64, S=8, policy="round-robin"):
    return {"stages": pp, "f": 1.0, "max_batch_tokens": B, "max_seqs": S, "policy": policy,
            "models": models}


def check(name, res, expect_reqs, expect_iters):
    got = [(r["status"], r["group"], r["first_token_ns"], r["finish_ns"], r["generated"],
            r["preemptions"]) for r in res["requests"]]
    ok = got == expect_reqs and res["iterations"] == expect_iters
    if not ok:
        print("FAIL %s:\n  got      %s iters %d\n  expected %s iters %d"
              % (name, got, res["iterations"], expect_reqs, expect_iters))
    else:
        print("ok   %s" % name)
    return ok


def self_test():
    ok = True
    # sanity of the cost arithmetic
    hm = HostedModel(hosted(0), 1.0, 1, 64)
    assert [hm.dense(0, t) for t in (1, 3, 9, 16, 40, 64)] == [1000, 3000, 9000, 16000, 40000, 64000]
    assert hm.stage_ns(0, 10, 55, 0) == 20055 and hm.stage_ns(0, 1, 0, 11) == 11011
    assert hm.t_B == 64000 + 64 * 65 // 2 + 10000

    # 1. One request alone; client 100, dispatch 200, exec 300, reply 400; I = 10, O = 3.
    #    ready = 600; prefill T=10 P=55: 10000+55+10000 = 20055 -> end 20655, token 1 at 21055;
    #    decode k=10: 1000+11+10000 = 11011 -> end 31666 (token 32066);
    #    decode k=11: 11012 -> end 42678, token 3 at 43078.
    c = make_case([group([hosted(0)])], [[0]], [(0, 0, 10, 3, None, None)], 1,
                  delays={"client": 100, "dispatch": 200, "exec": 300, "reply": 400})
    ok &= check("one request", simulate(c), [("good", 0, 21055, 43078, 3, 0)], 3)

    # 1b. The same with an end-to-end SLO of 43077 (latency 43078): late; 43078: good.
    c["requests"][0]["slo_ns"] = 43077
    ok &= check("end-to-end SLO missed", simulate(c), [("late", 0, 21055, 43078, 3, 0)], 3)
    c["requests"][0]["slo_ns"] = 43078
    ok &= check("end-to-end SLO met", simulate(c), [("good", 0, 21055, 43078, 3, 0)], 3)

    # 2. Two requests batched, both at 0: I=10,O=2 and I=20,O=2.
    #    prefill T=30, P=55+210=265: 30000+265+10000 = 40265 -> both first tokens at 40265;
    #    decodes T=2, D=11+21=32: 2000+32+10000 = 12032 -> both finish at 52297.
    c = make_case([group([hosted(0)])], [[0]],
                  [(0, 0, 10, 2, None, None), (0, 0, 20, 2, None, None)], 1)
    ok &= check("two batched", simulate(c),
                [("good", 0, 40265, 52297, 2, 0), ("good", 0, 40265, 52297, 2, 0)], 2)

    # 3. Chunked prefill, B = 16, I = 40, O = 2.
    #    chunk 16 after 0: P=136: 16000+136+10000 = 26136 -> 26136;
    #    chunk 16 after 16: P=256+136=392: 26392 -> 52528;
    #    chunk 8 after 32: P=256+36=292: 8000+292+10000 = 18292 -> 70820 = first token;
    #    decode k=40: 1000+41+10000 = 11041 -> 81861.
    c = make_case([group([hosted(0)], B=16)], [[0]], [(0, 0, 40, 2, None, None)], 1)
    ok &= check("chunked prefill", simulate(c), [("good", 0, 70820, 81861, 2, 0)], 4)

    # 3b. A decode and a chunk share the budget: B = 16; R0 I=4,O=3 at 0; R1 I=30,O=1 at 1.
    #    t=0: R0 chunk 4, P=10: 4000+10+10000 = 14010 -> 14010 (R0 token 1). R1 ready at 1.
    #    t=14010: R0 decode (k=4, D=5) + R1 chunk 15 (P=120): T=16: 16000+125+10000 = 26125 -> 40135
    #    (R0 token 2). t=40135: R0 decode k=5 (D=6) + R1 chunk 15 after 15 (P=225+120=345):
    #    16000+351+10000 = 26351 -> 66486: R0 token 3 (finish), R1 prefill ends: token 1 (finish).
    c = make_case([group([hosted(0)], B=16)], [[0]],
                  [(0, 0, 4, 3, None, None), (1, 0, 30, 1, None, None)], 1)
    ok &= check("decode + chunk", simulate(c),
                [("good", 0, 14010, 66486, 3, 0), ("good", 0, 66486, 66486, 1, 0)], 3)

    # 4. Preemption and recompute.  block_tokens = 4, kv 1 byte/token (block = 4 B), pool 8 B = 2
    #    blocks.  R0, R1: I=4, O=3, both at 0.
    #    t=0: both chunks of 4 (1 block each, pool full), T=8, P=20: 18020 -> 18020 (tokens 1).
    #    t=18020: R0 decode needs a 2nd block: R1 (last, not in flight) is preempted (L = 4+1 = 5),
    #    no step 3; T=1, D=5: 11005 -> 29025 (R0 token 2).
    #    t=29025: R0 decode k=5 (has its 2 blocks), D=6: 11006; R1 (head) needs 2 blocks, none free:
    #    stays waiting -> 40031, R0 token 3, finished, frees 2 blocks.
    #    t=40031: R1 recompute chunk 5, P=15: 5000+15+10000 = 15015 -> 55046 (R1 token 2);
    #    t=55046: R1 decode k=5, D=6: 11006 -> 66052 (R1 token 3, finish).
    c = make_case([group([hosted(0)])], [[0]],
                  [(0, 0, 4, 3, None, None), (0, 0, 4, 3, None, None)], 1, budget=8, block=4)
    ok &= check("preemption + recompute", simulate(c),
                [("good", 0, 18020, 40031, 3, 0), ("good", 0, 18020, 66052, 3, 1)], 5)

    # 5. Two models share a pool (round-robin policy).  block_tokens 4; m0 kv 1 B/token (4 B
    #    blocks), m1 kv 2 B/token (8 B blocks); pool 16 B.  A (m0) I=8,O=2, TPOT SLO 40000; B (m1)
    #    I=4,O=2, TTFT SLO 32046; both at 0.
    #    t=0: m0 first: A chunk 8 (2 blocks, 8 B), P=36: 8000+36+10000 = 18036 -> 18036 (A token 1).
    #    t=18036: m1: B chunk 4 (1 block, 8 B: pool full), P=10: 14010 -> 32046 (B token 1).
    #    t=32046: m0: A decode needs a 3rd block (4 B), pool full, no other m0 request: A preempts
    #    itself (L = 9), dropped; m1: B decode k=4 needs a 2nd block; 8 B free now: D=5: 11005 ->
    #    43051 (B token 2, finish; its 16 B freed).
    #    t=43051: m0: A recompute chunk 9 (3 blocks), T=9 (dense 9000), P=45: 19045 -> 62096 (A
    #    token 2).  A: TPOT = 62096-18036 = 44060 > 40000: late.  B: TTFT 32046 <= 32046: good.
    c = make_case([group([hosted(0, kv=1), hosted(1, kv=2)])], [[0], [0]],
                  [(0, 0, 8, 2, None, 40000), (0, 1, 4, 2, 32046, None)], 2, budget=16, block=4)
    ok &= check("two models, one pool", simulate(c),
                [("late", 0, 18036, 62096, 2, 1), ("good", 0, 32046, 43051, 2, 0)], 4)

    # 6. A 2-stage pipeline, two models (round-robin), stage 1 slower (iteration_s 2e-5: c = 20000).
    #    R0 (m0) and R1 (m1): I=4, O=2, at 0.  Prefill 4: stage 0 14010, stage 1 24010; decode at
    #    k=4: stage 0 11005, stage 1 21005.
    #    t=0: m0 R0: end_0 = 14010, end_1 = 38020.
    #    t=14010 (stage 0 free): m1 R1: end_0 = 28020, end_1 = max(28020, 38020)+24010 = 62030
    #    (two iterations in flight; at 28020 nothing is schedulable).
    #    t=38020: R0 token 1; m0 decode: end_0 = 49025, end_1 = max(49025, 62030)+21005 = 83035.
    #    t=62030: R1 token 1; m1 decode: end_0 = 73035, end_1 = max(73035, 83035)+21005 = 104040.
    c = make_case([group([hosted(0, pp=2, iteration_s=[1e-5, 2e-5]),
                          hosted(1, pp=2, iteration_s=[1e-5, 2e-5])], pp=2)], [[0], [0]],
                  [(0, 0, 4, 2, None, None), (0, 1, 4, 2, None, None)], 2)
    ok &= check("2-stage pipeline, two models", simulate(c),
                [("good", 0, 38020, 83035, 2, 0), ("good", 0, 62030, 104040, 2, 0)], 4)

    # 7. Dispatch (least-tokens) and admission.  m0 on groups 0 and 1, m1 on none; client 10,
    #    dispatch 20; block 16, pool 64 B with kv 1 B/token (4 blocks).
    #    R0 (I=10,O=5) -> g0 (tie 0/0).  R1 (I=20,O=5) -> g1 (g0 has 10+5 = 15).  R2 -> g0 (15 < 25).
    #    R3 (m1): no_replica at decided = 10.  R4 (I=60,O=10: ceil(69/16) = 5 blocks > 4) goes to
    #    g1 (g0 15+15 = 30 > 25 of g1) and is rejected at received = 30.
    #    10 iterations.  Times: g0 holds R0 and R2 (I=10,O=5 each): t=30: T=20, P=110:
    #    20000+110+10000 = 30110 -> 30140; decodes k=10,11,12,13 (2 each): 2000+22+10000 = 12022 ->
    #    42162, then 12024 -> 54186, 12026 -> 66212, 12028 -> 78240.  g1 R1 (I=20,O=5): P=210:
    #    30210 -> 30240; decodes k=20..23: 11021 -> 41261, 11022 -> 52283, 11023 -> 63306,
    #    11024 -> 74330.
    g = group([hosted(0)])
    c = make_case([g, g], [[0, 1], []],
                  [(0, 0, 10, 5, None, None), (0, 0, 20, 5, None, None),
                   (0, 0, 10, 5, None, None), (0, 1, 5, 5, None, None),
                   (0, 0, 60, 10, None, None)], 2, budget=64,
                  delays={"client": 10, "dispatch": 20})
    ok &= check("dispatch + rule 1", simulate(c),
                [("good", 0, 30140, 78240, 5, 0), ("good", 1, 30240, 74330, 5, 0),
                 ("good", 0, 30140, 78240, 5, 0), ("no_replica", -1, None, 10, 0, 0),
                 ("rejected", 1, None, 30, 0, 0)], 10)

    # 8. ttft admission, B = 16: t_B = 16000 + 136 + 10000 = 26136; exec 5, reply 7, fixed 3; O = 1.
    #    R0 at 0 (I=10, SLO 26151): Q = 0, ceil(10/16) = 1: 5 + 26136 + 7 + 3 = 26151 <= 26151:
    #    admitted (ready 5).  R1 at 1 (I=10, SLO 52286): Q = 10 (R0), ceil(20/16) = 2:
    #    5 + 52272 + 7 + 3 = 52287 > 52286: rejected at 1.  R2 at 2 (I=6, SLO 26151): Q = 10,
    #    ceil(16/16) = 1 -> 26151: admitted (ready 7).  t=5: R0 chunk 10, P=55: 20055 -> 20060,
    #    token 20067.  t=20060: R2 chunk 6, P=21: 16021 -> 36081, token 36088: TTFT 36086 > 26151:
    #    late.  (Had all three arrived at 0, R0 would be rejected: R1 and R2, dispatched at 0 but not
    #    yet received, count in its Q: see reading 17.)
    c = make_case([group([hosted(0)], B=16)], [[0]],
                  [(0, 0, 10, 1, 26151, None), (1, 0, 10, 1, 52286, None),
                   (2, 0, 6, 1, 26151, None)], 1,
                  delays={"exec": 5, "reply": 7, "fixed": 3}, admission="ttft")
    ok &= check("ttft admission", simulate(c),
                [("good", 0, 20067, 20067, 1, 0), ("rejected", 0, None, 1, 0, 0),
                 ("late", 0, 36088, 36088, 1, 0)], 2)

    print("self-test " + ("passed" if ok else "FAILED"))
    return ok


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return 0 if self_test() else 1
    if len(argv) != 2:
        sys.stderr.write("usage: llm_reference.py CASE.json > RESULTS.json | --self-test\n")
        return 2
    with open(argv[1]) as fh:
        case = json.load(fh)
    try:
        res = simulate(case)
    except LivelockError as e:
        sys.stderr.write("llm_reference: livelock: %s\n" % e)
        return 3
    json.dump(res, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
