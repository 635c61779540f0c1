#!/usr/bin/env python3
"""Independent reference model of the iteration-level decoder simulator (docs/decoders.md).

Usage:  python3 tests/sim/llm_reference.py [--step3-rule RULE] CASE.json > RESULTS.json
        python3 tests/sim/llm_reference.py --self-test
        python3 tests/sim/llm_reference.py [--step3-rule RULE] --stress N [FIRST_SEED]
        python3 tests/sim/llm_reference.py --random-case SEED > CASE.json
Exit status: 0; 1 self-test or stress failed; 2 usage; 3 the safety net fired (no RESULTS).

Python 3 standard library only.  A direct, slow, event-by-event simulation with plain lists, written
from docs/decoders.md as revised in a2b4c09 (not from the C engine).

CASE.json (every time in integer ns, every size in bytes; per-stage lists have `stages` entries)
  block_tokens   KV block size in tokens                     budget_bytes  per-device memory budget
  delays_ns      {client, dispatch, exec, fixed, reply}, each absent = 0
  admission      "none" (default) | "ttft"
  dispatch       "least-tokens" (default) | "least-kv" | "round-robin" | "best-ttft"
  groups         [{stages: pp, f: the stage factor stage_factor * (1 + stage_factor_per_pp * pp),
                   max_batch_tokens: B, max_seqs: S, policy: "round-robin" | "fcfs" | "slack",
                   models: [{model: id, weight_bytes, act_bytes_per_token, kv_bytes_per_token,
                             prefill_pair_s, decode_token_s, iteration_s: per-stage lists (one
                             device of the stage), tokens: the dense grid (1 first, covering B),
                             dense_s: per stage, a list over the grid}]}]   (plan group order)
  replicas       per model id, the indices of the groups hosting it, in plan group order
  requests       in trace order: {arrival_ns, model, input: I, output: O, and optional
                 ttft_slo_ns, tpot_slo_ns, slo_ns (round(seconds * 1e9); absent or null: none)}
  models, stage_factor: not read (the groups carry f).
RESULTS.json
  {"requests": [per request in trace order: {"status": "good" | "late" | "rejected" | "no_replica",
     "group": the group it was dispatched to (-1 for no_replica), "first_token_ns": int or null,
     "finish_ns": the last token's time e + reply when completed, the time refused when rejected
     (received), decided for no_replica, "generated": tokens emitted, "preemptions": int}],
   "iterations": iterations formed over all groups}
  (Changed from the first version: no "incomplete" status; exit status 3 is the safety net.)

READINGS IMPLEMENTED (settled by the revised document)
 S1. Priority = (arrival, trace index).  Waiting queues and running lists are in priority order; a
     preempted request returns to its waiting queue at its priority position (ready unchanged), a
     re-admitted one enters the running list at its position; steps 1 and 2 go in priority order.
 S2. A request lacking a block in steps 1-2 preempts, one at a time, the victim: the latest in
     priority among the group's running requests of any model that are not in flight, have taken no
     token in this attempt, and come after it.  With no victim it has a shortage: no token this
     iteration, it keeps every block it holds, the step goes on.  Nobody preempts itself.  Step 3
     runs only when this attempt had no preemption and no shortage (but see N2), and a step 3 head
     that cannot take all its chunk's blocks releases those it took.  A dropped attempt keeps its
     effects (preemptions, blocks taken).
 S3. A formation is attempted at t when, at t, the group's stage 0 frees, one of its iterations
     ends, or a request admitted to it becomes ready, provided stage 0 is free and fewer than pp of
     its iterations are in flight; at most one iteration per group and instant.  The policy's order
     is computed once per formation and its models are tried until one forms an iteration.
 S4. round-robin policy: from the model after the one of the last iteration formed (dropped attempts
     do not count; before any, from the first).  fcfs: smallest arrival among the schedulable
     requests (running not in flight, and the waiting head when ready).  slack: the smallest
     deadline (generated = 0: a + ttft_slo - reply; else first + generated * tpot_slo - reply; none
     when the SLO is absent or the deadline exceeds 2^63 - 1), models without one last.  Ties: model
     order.
 S5. Q = sum of max(0, L - c): for best-ttft over every request dispatched to the group and not
     finished or refused (in transit included, L = I, c = 0); for ttft admission over the admitted
     ones ahead of it (earlier received, or same and earlier in trace order), not finished.  A
     request without a TTFT SLO is never refused by ttft admission; slo_ns plays no part in it.
 S6. least-tokens: over in-transit, waiting and running requests, max(0, L - c) + O - generated;
     least-kv: max over stages of used_k / pool_k as double quotients; ties: the replica listed
     first.  round-robin dispatch: replica k mod n for the model's k-th request in trace order.
 S7. SLOs in integer ns: TTFT and end to end hold when the difference <= SLO; TPOT holds when
     ceil((last - first) / (O - 1)) <= tpot_slo, and always for O = 1.
 S8. A request is finished at its last iteration's end e (blocks freed, no longer outstanding for a
     dispatch at e); its token time is e + reply.
 S9. Rule 1: refused when ceil((I + O - 1) / block_tokens) * block_bytes(m, k) > pool_k for a stage.
     A group with a pool <= 0 on a stage, or a dense grid not starting at 1 or not covering B, is an
     invalid case (ValueError).
S10. Costs as the document: dense exact at grid points, interpolated left to right in doubles
     between them, round(x) = floor(x + 0.5), stage_ns at least 1; t_B through every stage.
S11. max_seqs counts the model's running list (in flight and short requests included) and limits
     step 3 only.
S12. Safety net (not a semantic): the document promises that every request completes.  More than
     100 * sum(I + O) + 1000 formed iterations, a request left unfinished or a KV block left in use
     at the end raises SafetyNetError (exit 3): a test failure, never a result.

NEW AMBIGUITIES AND A DEFECT IN THE REVISED DOCUMENT (reported to the lead)
 N1. "there is a **shortage**: the requester takes no token in this iteration, keeps its blocks":
     when it took some of the blocks it lacked before failing, does it keep those too?  Implemented:
     yes, it keeps every block it holds ("holds at least ceil(c / block_tokens) blocks (it may hold
     the blocks for tokens it is computing)").  Only step 3 says a head holds none after failing.
 N2. DEFECT.  "3. New requests, unless a preemption or a shortage (below) happened while forming
     this iteration" contradicts "The request with the earliest priority of the group never waits
     for blocks for ever: everything after it yields its blocks once not in flight, so every request
     completes."  With pp >= 2 and two models the earliest request can be short for ever: when its
     model is tried it preempts the other model's request that is back, stays short because the
     other model's iteration in flight holds blocks, its attempt is dropped, and the next model's
     attempt, which had no trouble of its own, takes the victim back in its step 3; the pipeline
     keeps one such iteration in flight for ever (self-test 14, three requests).  The document has
     since adopted "group" (below), the default here.  The rejected readings stay available with
     --step3-rule: "attempt" (a preemption or shortage in this model's attempt); "formation" (in any attempt of this formation) still livelocks when
     another model comes first in later formations (self-test 15, found by --stress); "group"
     (step 3 also waits while any running request of the group has a shortage it has not recovered
     from: it is short from a shortage until it next takes tokens, is preempted or finishes)
     completed every stress case.  --stress 20000 (seeds 0-19999): 466 cases livelock with
     "attempt", 3 with "formation", none with "group"; every livelocking group had pp >= 2 and two
     or more models.  Suggested text: "3. New requests, unless a preemption happened while forming
     this iteration or some running request of the group is short (a request is short from a
     shortage until it next takes tokens, is preempted or finishes): ...".
 N3. "A request is finished when its last token's iteration ends (at e, below), though its token
     time is e + reply": the results' finish_ns of a completed request is its last token's time
     e + reply (as an encoder request "finishes at f_last + reply" in docs/simulator.md), not e.
 N4. fcfs "the model whose earliest schedulable request arrived first", "ties to the model listed
     first in the group": compared by arrival alone, so equal arrivals go to the model listed
     first even when the other model's request is earlier in trace order.
 N5. "Deadlines that would pass 2^63 - 1 ns count as none": the exact value of the whole
     expression (first + g * tpot_slo - reply) is compared; an intermediate first + g * tpot_slo
     above 2^63 - 1 that the subtraction brings back does not count as none.
 N6. round-robin dispatch "the k-th request of a model, counting from 0 in trace order": k is the
     request's rank among its model's requests in the trace list (not in dispatch order, should a
     trace not be sorted by arrival), every request counted whatever its fate.
 N7. "neither in flight nor in this iteration": a request that had a shortage earlier in the same
     attempt took no token, so it is not "in this iteration" and can be a later requester's
     victim (step 2 restarts in priority order: a prefill can preempt a decode short in step 1).
 N8. "one of its requests becomes ready": any request admitted to the group whose ready is t, head
     of its queue or not, is a trigger.
"""

import json
import math
import sys

INT64_MAX = 2 ** 63 - 1
STEP3_RULES = ("attempt", "formation", "group")


def ceil_div(a, b):
    return -((-a) // b)


class SafetyNetError(RuntimeError):
    """The iteration cap was passed: the document promises that every request completes, so this
    is a failure (of the document or of this model), never a result."""


class AuditError(AssertionError):
    pass


class Req:
    def __init__(self, idx, d, delays):
        self.idx = idx
        self.a = int(d["arrival_ns"])
        self.m = int(d["model"])
        self.I = int(d["input"])
        self.O = int(d["output"])
        if self.I < 1 or self.O < 1:
            raise ValueError("request %d: input and output must be >= 1" % idx)
        self.ttft = None if d.get("ttft_slo_ns") is None else int(d["ttft_slo_ns"])
        self.tpot = None if d.get("tpot_slo_ns") is None else int(d["tpot_slo_ns"])
        self.e2e = None if d.get("slo_ns") is None else int(d["slo_ns"])
        self.prio = (self.a, idx)            # first come, first served; ties: trace order
        self.decided = self.a + delays["client"]
        self.received = self.decided + delays["dispatch"]
        self.ready = self.received + delays["exec"]
        # pending -> transit -> waiting <-> running -> finished; or rejected / no_replica
        self.state = "pending"
        self.group = -1
        self.L = self.I
        self.c = 0
        self.generated = 0
        self.first = None     # first token time (iteration end + reply)
        self.last = None      # last token time
        self.end = None       # end e of the iteration of its last token (finished then)
        self.finish = None    # results' finish_ns: last token time, or the time refused
        self.preemptions = 0
        self.blocks = 0
        self.in_flight = False
        self.short = False    # step3_rule "group" only

    def outstanding(self):
        """Dispatched to its group and not finished or refused."""
        return self.state in ("transit", "waiting", "running")


def insert_by_priority(lst, r):
    i = len(lst)
    while i > 0 and lst[i - 1].prio > r.prio:
        i -= 1
    lst.insert(i, r)


class HostedModel:
    def __init__(self, d, f, pp, B):
        self.model = int(d["model"])
        self.pp = pp
        self.weight = [int(x) for x in d["weight_bytes"]]
        self.act = [int(x) for x in d["act_bytes_per_token"]]
        self.kv = [int(x) for x in d["kv_bytes_per_token"]]
        self.tokens = [int(x) for x in d["tokens"]]
        self.dense_s = [[float(x) for x in row] for row in d["dense_s"]]
        if self.tokens[0] != 1 or self.tokens[-1] < B or any(
                self.tokens[j] >= self.tokens[j + 1] for j in range(len(self.tokens) - 1)):
            raise ValueError("model %d: the token grid must start at 1, rise, and cover B = %d"
                             % (self.model, B))
        fe = f * 1e9  # (f * 1e9) first, then times each profile value (left to right)
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
        v = None
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
        self.items = items    # [(req, tokens, emits)] in iteration order (steps 1, 2, 3)
        self.ends = ends      # end time at each stage


class Group:
    def __init__(self, gi, d, case):
        self.gi = gi
        self.pp = int(d["stages"])
        self.f = float(d["f"])
        self.B = int(d["max_batch_tokens"])
        self.S = int(d["max_seqs"])
        self.policy = d["policy"]
        if self.pp < 1 or self.B < 1 or self.S < 1:
            raise ValueError("group %d: stages, max_batch_tokens and max_seqs must be >= 1" % gi)
        if self.policy not in ("round-robin", "fcfs", "slack"):
            raise ValueError("unknown policy " + self.policy)
        self.hosted = [HostedModel(hm, self.f, self.pp, self.B) for hm in d["models"]]
        self.local = {h.model: i for i, h in enumerate(self.hosted)}
        budget = int(case["budget_bytes"])
        self.pool = []
        for k in range(self.pp):
            w = sum(h.weight[k] for h in self.hosted)
            act = max(h.act[k] * self.B for h in self.hosted)
            self.pool.append(budget - w - act)
        if min(self.pool) <= 0:
            raise ValueError("group %d leaves no KV pool on some stage (refused plan)" % gi)
        bt = int(case["block_tokens"])
        self.bb = [[bt * h.kv[k] for k in range(self.pp)] for h in self.hosted]
        self.used = [0] * self.pp
        n = len(self.hosted)
        self.waiting = [[] for _ in range(n)]   # per model, priority order
        self.running = [[] for _ in range(n)]   # per model, priority order
        self.free = [None] * self.pp  # when each stage finished its latest iteration (None: never)
        self.inflight = []            # Iterations formed and not ended (formation order)
        self.rr_last = None           # local model of the last iteration formed
        self.trigger = False

    def all_running(self):
        for lst in self.running:
            for r in lst:
                yield r


class Sim:
    def __init__(self, case, audit=False, step3_rule="group"):
        if step3_rule not in STEP3_RULES:
            raise ValueError("unknown step 3 rule " + step3_rule)
        self.case = case
        self.audit = audit
        self.step3_rule = step3_rule
        self.bt = int(case["block_tokens"])
        dl = case.get("delays_ns", {})
        self.delays = {k: int(dl.get(k, 0))
                       for k in ("client", "dispatch", "exec", "fixed", "reply")}
        self.admission = case.get("admission", "none")
        if self.admission not in ("none", "ttft"):
            raise ValueError("unknown admission " + self.admission)
        self.dispatch_policy = case.get("dispatch", "least-tokens")
        if self.dispatch_policy not in ("least-tokens", "least-kv", "round-robin", "best-ttft"):
            raise ValueError("unknown dispatch policy " + self.dispatch_policy)
        self.groups = [Group(i, g, case) for i, g in enumerate(case["groups"])]
        self.replicas = [list(r) for r in case["replicas"]]
        self.reqs = [Req(i, r, self.delays) for i, r in enumerate(case["requests"])]
        for r in self.reqs:
            for gi in self.replicas[r.m]:
                if r.m not in self.groups[gi].local:
                    raise ValueError("group %d does not host model %d" % (gi, r.m))
        # round-robin dispatch: the k-th request of a model, counting from 0 in trace order
        seen = {}
        self.rr_rank = []
        for r in self.reqs:
            self.rr_rank.append(seen.get(r.m, 0))
            seen[r.m] = seen.get(r.m, 0) + 1
        self.iterations = 0
        self.stats = {"shortages": 0, "preemptions": 0, "cap_waits": 0, "pipeline_full": 0,
                      "max_inflight_over_pp": -1}
        # Safety net only (see the top comment): every formed iteration computes >= 1 token.
        self.max_iterations = 100 * sum(r.I + r.O for r in self.reqs) + 1000

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

    def preempt(self, g, r):
        lm = g.local[r.m]
        self.free_blocks(g, r)
        r.c = 0
        r.L = r.I + r.generated
        r.state = "waiting"
        r.preemptions += 1
        self.stats["preemptions"] += 1
        r.short = False
        g.running[lm].remove(r)
        insert_by_priority(g.waiting[lm], r)   # ready unchanged

    # ---- dispatch --------------------------------------------------------------------------
    def tokens_left(self, g):
        tot = 0
        for r in self.reqs:
            if r.group == g.gi and r.outstanding():
                tot += max(0, r.L - r.c) + (r.O - r.generated)
        return tot

    def kv_share(self, g):
        return max(g.used[k] / g.pool[k] for k in range(g.pp))   # double quotients

    def predicted_ttft(self, g, r, q):
        hm = g.hosted[g.local[r.m]]
        return self.delays["exec"] + ceil_div(q + r.I, g.B) * hm.t_B + self.delays["reply"]

    def q_dispatch(self, g, r):
        """best-ttft: every request dispatched to g and not finished or refused (r excluded)."""
        return sum(max(0, x.L - x.c) for x in self.reqs
                   if x is not r and x.group == g.gi and x.outstanding())

    def q_admission(self, g, r):
        """ttft admission: those ahead of r, which reached g before it and are not finished or
        refused (earlier received, or the same and earlier in trace order)."""
        return sum(max(0, x.L - x.c) for x in self.reqs
                   if x is not r and x.group == g.gi and x.state in ("waiting", "running")
                   and (x.received, x.idx) < (r.received, r.idx))

    def dispatch(self, r):
        reps = self.replicas[r.m]
        if not reps:
            r.state = "no_replica"
            r.finish = r.decided
            return
        pol = self.dispatch_policy
        if pol == "round-robin":
            choice = reps[self.rr_rank[r.idx] % len(reps)]
        else:
            choice = None
            best = None
            for gi in reps:
                g = self.groups[gi]
                if pol == "least-tokens":
                    v = self.tokens_left(g)
                elif pol == "least-kv":
                    v = self.kv_share(g)
                else:  # best-ttft
                    v = self.predicted_ttft(g, r, self.q_dispatch(g, r))
                if best is None or v < best:   # ties: the replica listed first
                    best = v
                    choice = gi
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
            if self.predicted_ttft(g, r, self.q_admission(g, r)) + self.delays["fixed"] > r.ttft:
                r.state = "rejected"
                r.finish = r.received
                return
        r.state = "waiting"
        insert_by_priority(g.waiting[lm], r)

    # ---- multi-model policy ----------------------------------------------------------------
    def schedulable(self, g, lm, now):
        out = [r for r in g.running[lm] if not r.in_flight]
        wq = g.waiting[lm]
        if wq and wq[0].ready <= now:
            out.append(wq[0])
        return out

    def deadline(self, r):
        rep = self.delays["reply"]
        if r.generated == 0:
            d = None if r.ttft is None else r.a + r.ttft - rep
        else:
            d = None if r.tpot is None else r.first + r.generated * r.tpot - rep
        if d is not None and d > INT64_MAX:
            d = None
        return d

    def policy_order(self, g, now):
        n = len(g.hosted)
        sched = [self.schedulable(g, lm, now) for lm in range(n)]
        work = [lm for lm in range(n) if sched[lm]]
        if g.policy == "round-robin":
            start = 0 if g.rr_last is None else g.rr_last + 1
            return [(start + i) % n for i in range(n) if sched[(start + i) % n]]
        if g.policy == "fcfs":
            return sorted(work, key=lambda lm: (min(r.a for r in sched[lm]), lm))
        # slack
        def key(lm):
            ds = [d for d in (self.deadline(r) for r in sched[lm]) if d is not None]
            return (0, min(ds), lm) if ds else (1, 0, lm)
        return sorted(work, key=key)

    # ---- forming an iteration ----------------------------------------------------------------
    def victim(self, g, requester, in_iter):
        best = None
        for x in g.all_running():
            if x.in_flight or x in in_iter or x.prio <= requester.prio:
                continue
            if best is None or x.prio > best.prio:
                best = x
        return best

    def acquire(self, g, r, target, in_iter, ctx):
        """Steps 1-2: take the blocks r lacks for `target` computed tokens, one at a time,
        preempting victims; False on a shortage (r keeps every block it holds)."""
        need = ceil_div(target, self.bt)
        while r.blocks < need:
            if self.take_block(g, r):
                continue
            v = self.victim(g, r, in_iter)
            if v is None:
                ctx["trouble"] = True    # shortage
                r.short = True
                self.stats["shortages"] += 1
                return False
            self.preempt(g, v)
            ctx["trouble"] = True        # preemption
        r.short = False                  # it has every block it lacked: no longer short
        return True

    def try_form(self, g, lm, now, fctx):
        budget = g.B
        taken = []      # [(req, t, is_decode)]
        in_iter = set()
        ctx = {"trouble": False}
        skip2 = False
        # step 1: decodes, priority order
        for r in list(g.running[lm]):
            if r.state != "running" or r.in_flight or r.c < r.L:
                continue
            if budget == 0:
                skip2 = True
                break
            if not self.acquire(g, r, r.c + 1, in_iter, ctx):
                continue                  # shortage: no token this iteration
            budget -= 1
            taken.append((r, 1, True))
            in_iter.add(r)
        # step 2: running prefills, priority order
        if not skip2:
            for r in list(g.running[lm]):
                if r.state != "running" or r.in_flight or r.c >= r.L:
                    continue
                if budget == 0:
                    break
                t = min(r.L - r.c, budget)
                if not self.acquire(g, r, r.c + t, in_iter, ctx):
                    continue              # shortage
                budget -= t
                taken.append((r, t, False))
                in_iter.add(r)
        # step 3: new requests, unless a preemption or a shortage happened in this attempt
        # (step3_rule "group", the default: the document's rule), or see reading N2 for the others
        if ctx["trouble"]:
            fctx["trouble"] = True
        if self.step3_rule == "attempt":      # the document's text (reading N2)
            blocked = ctx["trouble"]
        elif self.step3_rule == "formation":  # any earlier attempt of this formation counts too
            blocked = fctx["trouble"]
        else:  # "group": also while any running request of the group is short (reading N2)
            blocked = ctx["trouble"] or any(x.short for x in g.all_running())
        if not blocked:
            wq = g.waiting[lm]
            while budget != 0 and len(g.running[lm]) < g.S and wq and wq[0].ready <= now:
                h = wq[0]
                t = min(h.L, budget)
                need = ceil_div(h.c + t, self.bt)
                ok = True
                while h.blocks < need:
                    if not self.take_block(g, h):
                        ok = False
                        break
                if not ok:
                    self.free_blocks(g, h)    # stays waiting, holding none
                    break
                wq.pop(0)
                h.state = "running"
                insert_by_priority(g.running[lm], h)
                budget -= t
                taken.append((h, t, False))
                in_iter.add(h)
        if not taken:
            return None
        T = P = D = 0
        items = []
        for r, t, dec in taken:
            r.short = False
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
        prev = None
        for s in range(g.pp):
            cost = hm.stage_ns(s, T, P, D)
            if s == 0:
                e = now + cost
            else:
                e = (prev if g.free[s] is None else max(prev, g.free[s])) + cost
            ends.append(e)
            g.free[s] = e
            prev = e
        return Iteration(lm, items, ends)

    def form(self, g, now):
        fctx = {"trouble": False}
        for lm in self.policy_order(g, now):   # the order is computed once per formation
            it = self.try_form(g, lm, now, fctx)
            if it is not None:
                g.inflight.append(it)
                st = self.stats
                st["max_inflight_over_pp"] = max(st["max_inflight_over_pp"], len(g.inflight) - g.pp)
                if g.pp > 1 and len(g.inflight) == g.pp:
                    st["pipeline_full"] += 1
                g.rr_last = lm
                self.iterations += 1
                if self.iterations > self.max_iterations:
                    raise SafetyNetError("more than %d iterations at t=%d (group %d)"
                                         % (self.max_iterations, now, g.gi))
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
                    r.end = e
                    r.finish = tok
        for r, t, emits in it.items:
            r.in_flight = False

    # ---- audit (stress and self-test) --------------------------------------------------------
    def check_state(self, t):
        for g in self.groups:
            if len(g.inflight) > g.pp:
                raise AuditError("group %d: %d iterations in flight > pp" % (g.gi, len(g.inflight)))
            used = [0] * g.pp
            for lm in range(len(g.hosted)):
                for lst in (g.running[lm], g.waiting[lm]):
                    if [r.prio for r in lst] != sorted(r.prio for r in lst):
                        raise AuditError("group %d: a list out of priority order" % g.gi)
                for r in g.waiting[lm]:
                    if r.blocks or r.c or r.in_flight or r.state != "waiting":
                        raise AuditError("request %d waits holding state" % r.idx)
                for r in g.running[lm]:
                    if r.state != "running" or r.blocks < ceil_div(r.c, self.bt):
                        raise AuditError("request %d: %d blocks for c = %d"
                                         % (r.idx, r.blocks, r.c))
                    if r.blocks > ceil_div(r.I + r.O - 1, self.bt):
                        raise AuditError("request %d holds too many blocks" % r.idx)
                    for k in range(g.pp):
                        used[k] += r.blocks * g.bb[lm][k]
            if used != g.used:
                raise AuditError("group %d: used %s, blocks say %s" % (g.gi, g.used, used))
            for k in range(g.pp):
                if g.used[k] > g.pool[k]:
                    raise AuditError("group %d: stage %d over its pool" % (g.gi, k))

    # ---- main loop -------------------------------------------------------------------------
    def next_time(self, after):
        best = None
        def consider(t):
            nonlocal best
            if t is not None and (after is None or t > after) and (best is None or t < best):
                best = t
        for g in self.groups:
            for it in g.inflight:
                consider(it.ends[-1])
            consider(g.free[0])
        for r in self.reqs:
            if r.state == "pending":
                consider(r.decided)
            elif r.state == "transit":
                consider(r.received)
            elif r.state == "waiting":
                consider(r.ready)
        return best

    def run(self):
        t = None
        while True:
            t = self.next_time(t)
            if t is None:
                break
            # 1. iteration ends (last stage finishes); different groups are independent here
            for g in self.groups:
                for it in [it for it in g.inflight if it.ends[-1] == t]:
                    g.inflight.remove(it)
                    self.end_iteration(g, it, t)
                    g.trigger = True
            # 2. other stage finishes: stage 0 freeing is a trigger, the others change nothing
            for g in self.groups:
                if g.free[0] == t:
                    g.trigger = True
            # 3. dispatch decisions, trace order
            for r in self.reqs:
                if r.state == "pending" and r.decided == t:
                    self.dispatch(r)
            # 4. admissions, trace order
            for r in self.reqs:
                if r.state == "transit" and r.received == t:
                    self.admit(r)
            # 5. requests becoming ready
            for r in self.reqs:
                if r.state == "waiting" and r.ready == t:
                    self.groups[r.group].trigger = True
            # 6. formations, by group index
            for g in self.groups:
                if g.trigger and (g.free[0] is None or g.free[0] <= t):
                    if len(g.inflight) < g.pp:
                        self.form(g, t)
                    else:
                        self.stats["cap_waits"] += 1   # stage 0 free, pp iterations in flight
                g.trigger = False
            if self.audit:
                self.check_state(t)
        for r in self.reqs:
            if r.state not in ("finished", "rejected", "no_replica"):
                raise SafetyNetError("request %d never completed (state %s)" % (r.idx, r.state))
        for g in self.groups:
            if any(g.used):
                raise SafetyNetError("group %d: KV blocks still in use at the end" % g.gi)
        return self.results()

    def results(self):
        out = []
        for r in self.reqs:
            if r.state in ("rejected", "no_replica"):
                st = r.state
            else:
                good = True
                if r.ttft is not None and r.first - r.a > r.ttft:
                    good = False
                if r.tpot is not None and r.O > 1 and ceil_div(r.last - r.first, r.O - 1) > r.tpot:
                    good = False
                if r.e2e is not None and r.last - r.a > r.e2e:
                    good = False
                st = "good" if good else "late"
            out.append({"status": st, "group": r.group, "first_token_ns": r.first,
                        "finish_ns": r.finish, "generated": r.generated,
                        "preemptions": r.preemptions})
        return {"requests": out, "iterations": self.iterations}


def simulate(case, audit=False, step3_rule="group"):
    """case: the CASE.json object; returns the RESULTS.json object."""
    return Sim(case, audit, step3_rule).run()


# ================================================================================================
# Random cases and the stress run (--stress): small cases over every policy, pp 1-3 (2-4 in the
# adversarial shape), tiny KV pools, models of different block sizes sharing a pool, bursts.
# ================================================================================================

STRESS_GRID = [1, 2, 4, 8, 16, 32, 64]


def random_case(seed):
    """A random case in the CASE.json format: even seeds the mixed shape (1-3 groups, 1-3 models,
    pp 1-3, every dispatch, admission and multi-model policy, random overheads and SLOs), odd seeds
    the adversarial shape (one group of 2-4 models with different block sizes, pp 2-4, B 2-16, a
    pool of one or two requests, 4-30 requests in bursts)."""
    import random
    rng = random.Random(seed)
    G = STRESS_GRID
    slo_keys = (("ttft_slo_ns", 10000, 400000), ("tpot_slo_ns", 5000, 60000),
                ("slo_ns", 50000, 2000000))
    if seed % 2 == 0:
        n_models = rng.choice([1, 2, 2, 3])
        n_groups = rng.randint(1, 3)
        bt = rng.choice([1, 2, 4, 4, 8, 16])
        groups = []
        replicas = [[] for _ in range(n_models)]
        for gi in range(n_groups):
            pp = rng.choice([1, 2, 2, 3, 3])
            B = rng.choice([4, 8, 16, 16, 32, 64])
            models = []
            for m in sorted(rng.sample(range(n_models), rng.randint(1, n_models))):
                replicas[m].append(gi)
                slope = [rng.choice([0.5e-6, 1e-6, 2e-6]) for _ in range(pp)]
                models.append({
                    "model": m, "weight_bytes": [rng.randint(0, 50) for _ in range(pp)],
                    "act_bytes_per_token": [rng.randint(0, 2) for _ in range(pp)],
                    "kv_bytes_per_token": [rng.randint(1, 3) for _ in range(pp)], "tokens": G,
                    "dense_s": [[slope[s] * t + rng.choice([0, 1e-7]) * (j % 2)
                                 for j, t in enumerate(G)] for s in range(pp)],
                    "prefill_pair_s": [rng.choice([0, 1e-9, 3e-10]) for _ in range(pp)],
                    "decode_token_s": [rng.choice([0, 1e-9, 2e-9]) for _ in range(pp)],
                    "iteration_s": [rng.choice([1e-5, 1e-5, 2e-5, 5e-5]) for _ in range(pp)]})
            groups.append({"stages": pp, "f": rng.choice([1.0, 1.0, 1.25]),
                           "max_batch_tokens": B, "max_seqs": rng.choice([1, 2, 4, 16]),
                           "policy": rng.choice(["round-robin", "fcfs", "slack"]),
                           "models": models})
        need = 0
        for g in groups:
            for k in range(g["stages"]):
                w = sum(h["weight_bytes"][k] for h in g["models"])
                act = max(h["act_bytes_per_token"][k] * g["max_batch_tokens"] for h in g["models"])
                need = max(need, w + act)
        blk = max(bt * max(h["kv_bytes_per_token"]) for g in groups for h in g["models"])
        budget = need + blk * max(1, int(rng.uniform(0.3, 2.5) * 60 / bt))
        if rng.random() < 0.05 and n_models > 1:
            replicas[rng.randrange(n_models)] = []
        n_req, p_gap, max_in, max_out = rng.randint(1, 20), 0.5, 40, 20
        delays = {k: rng.choice([0, 0, 5, 100]) for k in ("client", "dispatch", "exec", "fixed",
                                                          "reply")}
        admission = rng.choice(["none", "ttft"])
        dispatch = rng.choice(["least-tokens", "least-kv", "round-robin", "best-ttft"])
    else:
        n_models = rng.randint(2, 4)
        pp = rng.randint(2, 4)
        bt = rng.choice([2, 4, 16])
        models = []
        for m in range(n_models):
            models.append({"model": m, "weight_bytes": [0] * pp, "act_bytes_per_token": [0] * pp,
                           "kv_bytes_per_token": [rng.choice([1, 1, 2, 4]) for _ in range(pp)],
                           "tokens": G, "dense_s": [[1e-6 * t for t in G] for _ in range(pp)],
                           "prefill_pair_s": [rng.choice([0, 1e-9])] * pp,
                           "decode_token_s": [1e-9] * pp,
                           "iteration_s": [rng.choice([1e-5, 2e-5, 5e-5]) for _ in range(pp)]})
        maxkv = max(max(h["kv_bytes_per_token"]) for h in models)
        groups = [{"stages": pp, "f": 1.0, "max_batch_tokens": rng.choice([2, 4, 8, 16]),
                   "max_seqs": rng.choice([2, 4, 16]),
                   "policy": rng.choice(["round-robin", "fcfs", "slack"]), "models": models}]
        replicas = [[0] for _ in range(n_models)]
        budget = maxkv * bt * (int(rng.uniform(0.5, 2.0) * 40 / bt) + 1)
        n_req, p_gap, max_in, max_out = rng.randint(4, 30), 0.3, 25, 16
        delays = {k: rng.choice([0, 0, 5, 100]) for k in ("client", "dispatch", "exec", "fixed",
                                                          "reply")}
        admission = "none"
        dispatch = "least-tokens"
    t = 0
    reqs = []
    for i in range(n_req):
        if rng.random() < p_gap:
            t += rng.choice([0, 1, 1000, 10000, 50000])
        d = {"arrival_ns": t, "model": rng.randrange(n_models), "input": rng.randint(1, max_in),
             "output": rng.randint(1, max_out)}
        for key, lo, hi in slo_keys:
            if rng.random() < 0.6:
                d[key] = rng.randint(lo, hi)
        reqs.append(d)
    return {"block_tokens": bt, "delays_ns": delays, "admission": admission,
            "dispatch": dispatch, "budget_bytes": budget, "stage_factor": 1.0,
            "models": [{"name": "m%d" % i} for i in range(n_models)],
            "groups": groups, "replicas": replicas, "requests": reqs}


def stress(n, first_seed=0, step3_rule="group", out=sys.stdout):
    """Runs n random cases with the audit on; returns the number of failures.  A case fails when
    the safety net or an audit check fires, or a completed request has generated != output."""
    import collections
    statuses = collections.Counter()
    tot = collections.Counter()
    failures = []
    failed_by = collections.Counter()   # by shape, and by the pp and models of the case's groups
    worst_ratio = 0.0
    policies = collections.Counter()
    for seed in range(first_seed, first_seed + n):
        case = random_case(seed)
        for g in case["groups"]:
            policies["group pp=%d" % g["stages"]] += 1
            policies["policy " + g["policy"]] += 1
        policies["dispatch " + case["dispatch"]] += 1
        policies["admission " + case["admission"]] += 1
        sim = Sim(case, audit=True, step3_rule=step3_rule)
        try:
            res = sim.run()
        except (SafetyNetError, AuditError) as e:
            failures.append((seed, type(e).__name__, str(e)))
            shape = "mixed" if seed % 2 == 0 else "adversarial"
            failed_by[shape] += 1
            for g in case["groups"]:
                failed_by["pp=%d, %d models" % (g["stages"], len(g["models"]))] += 1
            continue
        bad = None
        for r, d in zip(res["requests"], case["requests"]):
            statuses[r["status"]] += 1
            if r["status"] in ("good", "late") and r["generated"] != d["output"]:
                bad = "request generated %d of %d" % (r["generated"], d["output"])
            if r["status"] not in ("good", "late", "rejected", "no_replica"):
                bad = "status " + r["status"]
        if bad:
            failures.append((seed, "Mismatch", bad))
            continue
        for k, v in sim.stats.items():
            if k == "max_inflight_over_pp":
                tot[k] = max(tot.get(k, -1), v)
            else:
                tot[k] += v
        tot["iterations"] += res["iterations"]
        tokens = sum(x.I + x.O for x in sim.reqs)
        worst_ratio = max(worst_ratio, res["iterations"] / float(tokens))
    out.write("stress: %d cases (seeds %d..%d), step 3 rule %s\n"
              % (n, first_seed, first_seed + n - 1, step3_rule))
    out.write("  settings drawn: %s\n" % ", ".join("%s %d" % kv for kv in sorted(policies.items())))
    out.write("  requests: %s\n" % ", ".join("%s %d" % kv for kv in sorted(statuses.items())))
    out.write("  totals: %s\n" % ", ".join("%s %d" % kv for kv in sorted(tot.items())))
    out.write("  most iterations per (I + O) token of a case: %.3f (safety net at 100)\n"
              % worst_ratio)
    out.write("  failures: %d\n" % len(failures))
    if failures:
        out.write("  failures by shape and group: %s\n"
                  % ", ".join("%s %d" % kv for kv in sorted(failed_by.items())))
        out.write("  failing seeds: %s\n" % " ".join(str(f[0]) for f in failures))
    for f in failures[:10]:
        out.write("    seed %d: %s: %s\n" % f)
    return len(failures)


# ================================================================================================
# Self-test: hand-computed cases.
# Standard profile (f = 1, every stage): dense_s(T) = T * 1e-6 at grid points 1,2,4,...,64, so
# dense_ns[T] = 1000 * T (also between grid points, by linear interpolation); prefill_pair_s = 1e-9
# (1 ns per attention pair); decode_token_s = 1e-9 (1 ns per context token); iteration_s = 1e-5
# (c = 10000 ns).  So stage_ns = 1000 T + P + D + 10000.
# A prefill chunk of t tokens after k: P = t k + t (t + 1) / 2; a decode after k: D = k + 1.
# Weights and activations are 0, so a pool is the whole budget.  Requests are (arrival, model, I, O,
# ttft_slo_ns, tpot_slo_ns); "Rn" is the request of trace index n.
# ================================================================================================

GRID = [1, 2, 4, 8, 16, 32, 64]


def hosted(model, pp=1, kv=1, iteration_s=1e-5, weight=0, act=0):
    return {"model": model, "weight_bytes": [weight] * pp, "act_bytes_per_token": [act] * pp,
            "kv_bytes_per_token": [kv] * pp, "tokens": GRID,
            "dense_s": [[t * 1e-6 for t in GRID] for _ in range(pp)],
            "prefill_pair_s": [1e-9] * pp, "decode_token_s": [1e-9] * pp,
            "iteration_s": iteration_s if isinstance(iteration_s, list) else [iteration_s] * pp}


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


def check(name, case, expect_reqs, expect_iters, step3_rule="group"):
    res = simulate(case, audit=True, step3_rule=step3_rule)
    got = [(r["status"], r["group"], r["first_token_ns"], r["finish_ns"], r["generated"],
            r["preemptions"]) for r in res["requests"]]
    ok = got == expect_reqs and res["iterations"] == expect_iters
    if not ok:
        print("FAIL %s:\n  got      %s iters %d\n  expected %s iters %d"
              % (name, got, res["iterations"], expect_reqs, expect_iters))
    else:
        print("ok   %s" % name)
    return ok


def check_safety_net(name, case, step3_rule="group"):
    try:
        simulate(case, step3_rule=step3_rule)
    except SafetyNetError:
        print("ok   %s (the safety net fires)" % name)
        return True
    print("FAIL %s: expected the safety net to fire" % name)
    return False


# Found by --stress (adversarial shape) and shrunk: step 3 rule "formation" livelocks on it (slack
# policy, pp = 4, a model of 4-token blocks of 4, 4, 16, 8 bytes by stage and one of 4, 8, 4, 4).
FORMATION_LIVELOCK = {
    "block_tokens": 4,
    "delays_ns": {"client": 0, "dispatch": 0, "exec": 100, "fixed": 0, "reply": 0},
    "admission": "none", "dispatch": "least-tokens", "budget_bytes": 96, "stage_factor": 1.0,
    "models": [{"name": "m0"}, {"name": "m1"}], "replicas": [[0], [0]],
    "groups": [{"stages": 4, "f": 1.0, "max_batch_tokens": 2, "max_seqs": 4, "policy": "slack",
                "models": [dict(hosted(0, 4, 1, [1e-5, 1e-5, 1e-5, 5e-5]),
                                kv_bytes_per_token=[1, 1, 4, 2], prefill_pair_s=[0] * 4),
                           dict(hosted(1, 4, 1, [5e-5, 5e-5, 1e-5, 5e-5]),
                                kv_bytes_per_token=[1, 2, 1, 1])]}],
    "requests": [
        {"arrival_ns": 20000, "model": 0, "input": 18, "output": 4, "ttft_slo_ns": 198164,
         "tpot_slo_ns": 35865},
        {"arrival_ns": 20000, "model": 1, "input": 1, "output": 9, "ttft_slo_ns": 72299,
         "tpot_slo_ns": 24025},
        {"arrival_ns": 41000, "model": 1, "input": 8, "output": 7, "ttft_slo_ns": 102269,
         "tpot_slo_ns": 27327},
        {"arrival_ns": 41000, "model": 1, "input": 12, "output": 4, "ttft_slo_ns": 74249,
         "tpot_slo_ns": 30510}]}


def self_test():
    ok = True
    # sanity of the cost arithmetic
    hm = HostedModel(hosted(0), 1.0, 1, 64)
    assert ([hm.dense(0, t) for t in (1, 3, 9, 16, 40, 64)]
            == [1000, 3000, 9000, 16000, 40000, 64000])
    assert hm.stage_ns(0, 10, 55, 0) == 20055 and hm.stage_ns(0, 1, 0, 11) == 11011
    assert hm.t_B == 64000 + 64 * 65 // 2 + 10000

    # 1. One request alone; client 100, dispatch 200, exec 300, reply 400; I = 10, O = 3.
    #    ready = 600; prefill T=10 P=55: 10000+55+10000 = 20055 -> end 20655, token 1 at 21055;
    #    decode k=10: 1000+11+10000 = 11011 -> end 31666 (token 32066);
    #    decode k=11: 11012 -> end 42678, token 3 at 43078 (finish_ns: the last token's time).
    c = make_case([group([hosted(0)])], [[0]], [(0, 0, 10, 3, None, None)], 1,
                  delays={"client": 100, "dispatch": 200, "exec": 300, "reply": 400})
    ok &= check("one request", c, [("good", 0, 21055, 43078, 3, 0)], 3)

    # 1b. The same with an end-to-end SLO of 43077 (latency 43078): late; 43078: good.
    c["requests"][0]["slo_ns"] = 43077
    ok &= check("end-to-end SLO missed by 1 ns", c, [("late", 0, 21055, 43078, 3, 0)], 3)
    c["requests"][0]["slo_ns"] = 43078
    ok &= check("end-to-end SLO met exactly", c, [("good", 0, 21055, 43078, 3, 0)], 3)

    # 1c. TPOT: ceil((43078 - 21055) / 2) = ceil(11011.5) = 11012: SLO 11011 late, 11012 good;
    #     TTFT 21055 against SLO 21054 late, 21055 good.
    del c["requests"][0]["slo_ns"]
    c["requests"][0]["tpot_slo_ns"] = 11011
    ok &= check("TPOT SLO: ceil 11012 > 11011", c, [("late", 0, 21055, 43078, 3, 0)], 3)
    c["requests"][0]["tpot_slo_ns"] = 11012
    ok &= check("TPOT SLO: ceil 11012 <= 11012", c, [("good", 0, 21055, 43078, 3, 0)], 3)
    c["requests"][0]["ttft_slo_ns"] = 21054
    ok &= check("TTFT SLO missed by 1 ns", c, [("late", 0, 21055, 43078, 3, 0)], 3)
    c["requests"][0]["ttft_slo_ns"] = 21055
    ok &= check("TTFT SLO met exactly", c, [("good", 0, 21055, 43078, 3, 0)], 3)

    # 2. Two requests batched, both at 0: I=10,O=2 and I=20,O=2.
    #    prefill T=30, P=55+210=265: 30000+265+10000 = 40265 -> both first tokens at 40265;
    #    decodes T=2, D=11+21=32: 2000+32+10000 = 12032 -> both finish at 52297.
    c = make_case([group([hosted(0)])], [[0]],
                  [(0, 0, 10, 2, None, None), (0, 0, 20, 2, None, None)], 1)
    ok &= check("two batched", c,
                [("good", 0, 40265, 52297, 2, 0), ("good", 0, 40265, 52297, 2, 0)], 2)

    # 3. Chunked prefill, B = 16, I = 40, O = 2.
    #    chunk 16 after 0: P=136: 16000+136+10000 = 26136 -> 26136;
    #    chunk 16 after 16: P=256+136=392: 26392 -> 52528;
    #    chunk 8 after 32: P=256+36=292: 8000+292+10000 = 18292 -> 70820 = first token;
    #    decode k=40: 1000+41+10000 = 11041 -> 81861.
    c = make_case([group([hosted(0)], B=16)], [[0]], [(0, 0, 40, 2, None, None)], 1)
    ok &= check("chunked prefill", c, [("good", 0, 70820, 81861, 2, 0)], 4)

    # 3b. A decode and a chunk share the budget: B = 16; R0 I=4,O=3 at 0; R1 I=30,O=1 at 1.
    #    t=0: R0 chunk 4, P=10: 4000+10+10000 = 14010 -> 14010 (R0 token 1). R1 ready at 1.
    #    t=14010: R0 decode (k=4, D=5) + R1 chunk 15 (P=120): T=16: 16000+125+10000 = 26125 -> 40135
    #    (R0 token 2). t=40135: R0 decode k=5 (D=6) + R1 chunk 15 after 15 (P=225+120=345):
    #    16000+351+10000 = 26351 -> 66486: R0 token 3 (finish), R1 prefill ends: token 1 (finish).
    c = make_case([group([hosted(0)], B=16)], [[0]],
                  [(0, 0, 4, 3, None, None), (1, 0, 30, 1, None, None)], 1)
    ok &= check("decode + chunk", c,
                [("good", 0, 14010, 66486, 3, 0), ("good", 0, 66486, 66486, 1, 0)], 3)

    # 4. Preemption and recompute.  block_tokens = 4, kv 1 byte/token (block = 4 B), pool 8 B = 2
    #    blocks.  R0, R1: I=4, O=3, both at 0 (R0 first in priority: trace order).
    #    t=0: both chunks of 4 (1 block each, pool full), T=8, P=20: 18020 -> 18020 (tokens 1).
    #    t=18020: R0 decode needs a 2nd block: victim R1 (later, not in flight, not in this
    #    iteration) is preempted (L = 4+1 = 5), no step 3; T=1, D=5: 11005 -> 29025 (R0 token 2).
    #    t=29025: R0 decode k=5 (has its 2 blocks), D=6: 11006; R1 (head) needs 2 blocks, none free:
    #    stays waiting -> 40031, R0 token 3, finished, frees 2 blocks.
    #    t=40031: R1 recompute chunk 5, P=15: 5000+15+10000 = 15015 -> 55046 (R1 token 2);
    #    t=55046: R1 decode k=5, D=6: 11006 -> 66052 (R1 token 3, finish).
    c = make_case([group([hosted(0)])], [[0]],
                  [(0, 0, 4, 3, None, None), (0, 0, 4, 3, None, None)], 1, budget=8, block=4)
    ok &= check("preemption + recompute", c,
                [("good", 0, 18020, 40031, 3, 0), ("good", 0, 18020, 66052, 3, 1)], 5)

    # 5. A victim of another model.  Round-robin; block_tokens 4; m0 kv 1 B/token (4 B blocks),
    #    m1 kv 2 B/token (8 B blocks); pool 16 B.  R0 (m0) I=8,O=2, TPOT SLO 40000; R1 (m1) I=4,O=2,
    #    TTFT SLO 32046; both at 0 (R0 first in priority).
    #    t=0: m0 first: R0 chunk 8 (2 blocks, 8 B), P=36: 8000+36+10000 = 18036 -> 18036 (token 1).
    #    t=18036: m1: R1 chunk 4 (1 block, 8 B: pool full), P=10: 14010 -> 32046 (R1 token 1).
    #    t=32046: m0: R0 decode needs a 3rd block (4 B), pool full: the victim is R1, of m1 (later,
    #    not in flight): preempted (L = 5), 8 B freed; R0 takes its block (12 B used); D=9:
    #    1000+9+10000 = 11009 -> 43055 (R0 token 2, finished: 12 B freed).  TPOT 25019 <= 40000.
    #    t=43055: m1: R1 recompute chunk 5 (2 blocks, 16 B), P=15: 15015 -> 58070 (R1 token 2).
    #    R1: TTFT 32046 <= 32046: good.
    c = make_case([group([hosted(0, kv=1), hosted(1, kv=2)])], [[0], [0]],
                  [(0, 0, 8, 2, None, 40000), (0, 1, 4, 2, 32046, None)], 2, budget=16, block=4)
    ok &= check("victim of another model", c,
                [("good", 0, 18036, 43055, 2, 0), ("good", 0, 32046, 58070, 2, 1)], 4)

    # 6. A 2-stage pipeline, two models (round-robin), stage 1 slower (iteration_s 2e-5: c = 20000).
    #    R0 (m0) and R1 (m1): I=4, O=2, at 0.  Prefill 4: stage 0 14010, stage 1 24010; decode at
    #    k=4: stage 0 11005, stage 1 21005.
    #    t=0: m0 R0: end_0 = 14010, end_1 = 38020.
    #    t=14010 (stage 0 free, 1 in flight < 2): m1 R1: end_0 = 28020,
    #    end_1 = max(28020, 38020)+24010 = 62030 (at 28020: 2 in flight, nothing schedulable).
    #    t=38020: R0 token 1; m0 decode: end_0 = 49025, end_1 = max(49025, 62030)+21005 = 83035.
    #    t=62030: R1 token 1; m1 decode: end_0 = 73035, end_1 = max(73035, 83035)+21005 = 104040.
    c = make_case([group([hosted(0, pp=2, iteration_s=[1e-5, 2e-5]),
                          hosted(1, pp=2, iteration_s=[1e-5, 2e-5])], pp=2)], [[0], [0]],
                  [(0, 0, 4, 2, None, None), (0, 1, 4, 2, None, None)], 2)
    ok &= check("2-stage pipeline, two models", c,
                [("good", 0, 38020, 83035, 2, 0), ("good", 0, 62030, 104040, 2, 0)], 4)

    # 7. At most pp iterations in flight.  One model, pp = 2, stage 1 slow (c = 50000): a prefill
    #    of 4 costs 14010 on stage 0 and 54010 on stage 1; of 8 (two chunks of 4, P=20) 18020 and
    #    58020.  R0 at 0, R1 at 1, R2 at 20000, R3 at 30000; I=4, O=1 each.
    #    t=0: R0: end_0 = 14010, end_1 = 68020.  t=1: R1 ready, stage 0 busy.
    #    t=14010: stage 0 free, 1 in flight: R1: end_0 = 28020, end_1 = max(28020, 68020)+54010
    #    = 122030.  t=20000: R2 ready, stage 0 busy.  t=28020: stage 0 frees but 2 = pp iterations
    #    are in flight: no formation; t=30000: R3 ready: the same.
    #    t=68020: R0 ends (token, finished), 1 in flight: R2 and R3 together: end_0 = 86040,
    #    end_1 = max(86040, 122030)+58020 = 180050.  3 iterations (without the cap: 4, R2 alone at
    #    28020).
    c = make_case([group([hosted(0, pp=2, iteration_s=[1e-5, 5e-5])], pp=2)], [[0]],
                  [(0, 0, 4, 1, None, None), (1, 0, 4, 1, None, None),
                   (20000, 0, 4, 1, None, None), (30000, 0, 4, 1, None, None)], 1)
    ok &= check("pp iterations in flight at most", c,
                [("good", 0, 68020, 68020, 1, 0), ("good", 0, 122030, 122030, 1, 0),
                 ("good", 0, 180050, 180050, 1, 0), ("good", 0, 180050, 180050, 1, 0)], 3)

    # 8. Dispatch (least-tokens) and admission.  m0 on groups 0 and 1, m1 on none; client 10,
    #    dispatch 20; block 16, pool 64 B with kv 1 B/token (4 blocks).
    #    R0 (I=10,O=5) -> g0 (tie 0/0).  R1 (I=20,O=5) -> g1 (g0 has 10+5 = 15).  R2 -> g0 (15 <
    #    25).
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
    ok &= check("dispatch + rule 1", c,
                [("good", 0, 30140, 78240, 5, 0), ("good", 1, 30240, 74330, 5, 0),
                 ("good", 0, 30140, 78240, 5, 0), ("no_replica", -1, None, 10, 0, 0),
                 ("rejected", 1, None, 30, 0, 0)], 10)

    # 9. best-ttft counts requests in transit.  Groups 0 and 1 host m0; B = 16 (t_B = 16000 + 136
    #    + 10000 = 26136); dispatch 10; I = 10, O = 1, all at 0.  R0: Q = 0 at both, 26136: g0
    #    (first).  R1: g0 has R0 (dispatched, not yet received): Q = 10, ceil(20/16) = 2: 52272;
    #    g1 26136: g1.  R2: Q = 10 at both: 52272, g0.  t=10: g0: R0 chunk 10 + R2 chunk 6 (budget
    #    16): P = 55 + 21 = 76: 26076 -> 26086 (R0 token, finished); R2 chunk 4 after 6: P = 24 + 10
    #    = 34: 4000+34+10000 = 14034 -> 40120.  g1: R1 chunk 10: 20055 -> 20065.
    g = group([hosted(0)], B=16)
    c = make_case([g, g], [[0, 1]],
                  [(0, 0, 10, 1, None, None), (0, 0, 10, 1, None, None),
                   (0, 0, 10, 1, None, None)], 1, delays={"dispatch": 10}, dispatch="best-ttft")
    ok &= check("best-ttft dispatch", c,
                [("good", 0, 26086, 26086, 1, 0), ("good", 1, 20065, 20065, 1, 0),
                 ("good", 0, 40120, 40120, 1, 0)], 3)

    # 10. ttft admission, B = 16: t_B = 26136; exec 5, reply 7, fixed 3; O = 1.
    #    R0 at 0 (I=10, SLO 26151): nothing ahead, Q = 0, ceil(10/16) = 1: 5 + 26136 + 7 + 3 = 26151
    #    <= 26151: admitted (ready 5).  R1 at 1 (I=10, SLO 52286): Q = 10 (R0), ceil(20/16) = 2:
    #    5 + 52272 + 7 + 3 = 52287 > 52286: rejected at 1.  R2 at 2 (I=6, SLO 26151): Q = 10 (R0; R1
    #    refused), ceil(16/16) = 1 -> 26151: admitted (ready 7).  t=5: R0 chunk 10, P=55: 20055 ->
    #    20060, token 20067.  t=20060: R2 chunk 6, P=21: 16021 -> 36081, token 36088: TTFT 36086 >
    #    26151: late.
    c = make_case([group([hosted(0)], B=16)], [[0]],
                  [(0, 0, 10, 1, 26151, None), (1, 0, 10, 1, 52286, None),
                   (2, 0, 6, 1, 26151, None)], 1,
                  delays={"exec": 5, "reply": 7, "fixed": 3}, admission="ttft")
    ok &= check("ttft admission", c,
                [("good", 0, 20067, 20067, 1, 0), ("rejected", 0, None, 1, 0, 0),
                 ("late", 0, 36088, 36088, 1, 0)], 2)

    # 10b. The same three as a burst at 0: the later ones do not count against R0 (Q is over those
    #    ahead of it only): R0: Q = 0: 26151: admitted.  R1: Q = 10 (R0): 52287 > 52286: rejected
    #    at 0.  R2: Q = 10: 26151: admitted.  t=5: R0 chunk 10 + R2 chunk 6: T=16, P = 55 + 21 = 76:
    #    16000+76+10000 = 26076 -> 26081, both tokens at 26088: TTFT 26088 <= 26151, both good.
    for r in c["requests"]:
        r["arrival_ns"] = 0
    ok &= check("ttft admission, a burst", c,
                [("good", 0, 26088, 26088, 1, 0), ("rejected", 0, None, 0, 0, 0),
                 ("good", 0, 26088, 26088, 1, 0)], 1)

    # 11. A shortage.  block_tokens 4, kv 1 (4 B blocks), pool 12 B = 3 blocks; R0 I=4,O=5 and
    #    R1 I=4,O=2, both at 0.
    #    t=0: R0 and R1 chunks of 4 (1 block each), T=8, P=20: 18020 -> 18020 (both token 1).
    #    t=18020: R0 decode (c 4 -> 5) takes a 2nd block (3 used).  R1 decode needs a 2nd block:
    #    none free, and no victim (R0 comes before R1): a shortage; R1 keeps its block and takes no
    #    token.  R0 alone, D=5: 11005 -> 29025 (token 2).
    #    t=29025, 40031, 51038: R0 decodes k = 5, 6, 7 (D = 6, 7, 8: 11006, 11007, 11008) with its 2
    #    blocks, R1 short each time -> 40031, 51038, 62046 (R0 token 5, finished, 2 blocks freed).
    #    t=62046: R1 decode k=4 takes its 2nd block, D=5: 11005 -> 73051 (R1 token 2).
    c = make_case([group([hosted(0)])], [[0]],
                  [(0, 0, 4, 5, None, None), (0, 0, 4, 2, None, None)], 1, budget=12, block=4)
    ok &= check("a shortage keeps its blocks", c,
                [("good", 0, 18020, 62046, 5, 0), ("good", 0, 18020, 73051, 2, 0)], 6)

    # 12. Multi-model policies.  Two models (pp 1); R0 (m0) I=4,O=2, no SLO; R1 (m1) I=4,O=1, TTFT
    #    SLO 50000; both at 0.  Prefill 4: 14010; decode at k=4: 11005.
    #    slack: m1 has a deadline (0 + 50000 - 0), m0 none: R1 first -> 14010; then R0 prefill ->
    #    28020, decode -> 39025.
    #    fcfs: both earliest requests arrived at 0: m0 (listed first): R0 prefill -> 14010; at 14010
    #    R0 (arrival 0) and R1 (arrival 0) tie again: R0 decode -> 25015; then R1 -> 39025 (TTFT
    #    39025 <= 50000).
    reqs = [(0, 0, 4, 2, None, None), (0, 1, 4, 1, 50000, None)]
    c = make_case([group([hosted(0), hosted(1)], policy="slack")], [[0], [0]], reqs, 2)
    ok &= check("slack policy", c,
                [("good", 0, 28020, 39025, 2, 0), ("good", 0, 14010, 14010, 1, 0)], 3)
    c = make_case([group([hosted(0), hosted(1)], policy="fcfs")], [[0], [0]], reqs, 2)
    ok &= check("fcfs policy", c,
                [("good", 0, 14010, 25015, 2, 0), ("good", 0, 39025, 39025, 1, 0)], 3)

    # 13. Two models, pp = 3, B = 16: the first reading's model thrashed here for ever (R1 preempted
    #    itself whenever its last chunk lacked a block while R0's blocks were in flight, then R0 did
    #    the same).  block_tokens 4, kv 1 for both (4 B blocks), pool 32 B = 8 blocks, round-robin.
    #    R0 (m1) I=16,O=4; R1 (m0) I=20,O=1; both at 0 (R0 first in priority).  Every stage costs
    #    the same: a chunk of 16 after 0 (P=136) 26136; R1's last chunk, 4 after 16 (P=64+10=74),
    #    14074; R0's decodes at k = 16, 17, 18 (D = 17, 18, 19): 11017, 11018, 11019.
    #    t=0: m0 first: R1 chunk 16 (4 blocks): ends 26136, 52272, 78408.
    #    t=26136: m1: R0 chunk 16 (4 blocks: pool full): ends 52272, 78408, 104544.
    #    t=52272: stage 0 free, nothing schedulable.
    #    t=78408: R1 back (c 16 of 20); m0: R1 needs a 5th block; no victim (R0 is earlier, and in
    #    flight): shortage, dropped.  m1 has no work.
    #    t=104544: R0 token 1.  Order after m1: m0 first: R1 short again (R0 is earlier), dropped;
    #    m1: R0 decode needs a 5th block: victim R1 (later, not in flight) preempted (L = 20);
    #    ends 115561, 126578, 137595 (R0 token 2 at 137595).
    #    t=115561, 148613, 181668 (stage 0 frees) and 137595, 170649 (R0's ends): R1 (head) needs 4
    #    blocks, 3 free: stays waiting; R0 decodes at 137595 -> 170649 and 170649 -> 203706 (token
    #    4, finished, 5 blocks freed).
    #    t=203706: R1 chunk 16: ends 229842, 255978, 282114; t=282114: R1 chunk 4 (5th block): ends
    #    296188, 310262, 324336: R1 token 1.  7 iterations.
    c = make_case([group([hosted(0, pp=3), hosted(1, pp=3)], pp=3, B=16)], [[0], [0]],
                  [(0, 1, 16, 4, None, None), (0, 0, 20, 1, None, None)], 2, budget=32, block=4)
    ok &= check("two models, pp 3: completes", c,
                [("good", 0, 104544, 203706, 4, 0), ("good", 0, 324336, 324336, 1, 1)], 7)

    # 14. DOCUMENT DEFECT (reading N2): the text's step 3 rule ("unless a preemption or a shortage
    #    happened while forming this iteration", per model attempt) livelocks.  pp = 2, B = 4,
    #    round-robin, block_tokens 4, pool 16 B; m0 kv 2 (8 B blocks), m1 kv 1 (4 B blocks).
    #    A = R0 (m0) I=4,O=2; X = R1, Y = R2 (m1) I=8,O=1; all at 0.  A chunk of 4 after 0 costs
    #    14010 a stage, after 4 (P=16+10=26) 14026; A's decode at k=4 (D=5) 11005.
    #    t=0: A chunk 4 (8 B): ends 14010, 28020.  t=14010: m1: X chunk 4 (4 B): ends 28020, 42030.
    #    t=28020: A token 1.  m0 first: A's decode needs an 8 B block, 12 B used: no victim (X in
    #    flight): shortage, dropped.  Then, with the text's rule, m1's attempt had no trouble: Y
    #    chunk 4 (16 B used): ends 42030, 56040.  t=42030: X back: A preempts X (12 B used), still
    #    short (Y in flight), dropped; m1 takes X again (16 B): ends 56040, 70050.  t=56040: the
    #    same with X and Y swapped ... for ever: the safety net fires.
    #    Under step 3 rule "group" (step 3 waits while a running request of the group is short):
    #    t=28020: A short; m1's step 3 waits: nothing formed.  t=42030: X back: A preempts X and
    #    takes its block (16 B): ends 53035, 64040.  t=53035: m1: X needs 4 B, none free: nothing.
    #    t=64040: A token 2, finished (16 B freed); m1: X chunk 4: ends 78050, 92060.  t=78050: Y
    #    chunk 4: ends 92060, 106070.  t=92060: X chunk 4 after 4 (2nd block): ends 106086, 120112.
    #    t=106070: Y back, stage 0 busy until 106086.  t=106086: Y chunk 4 after 4: ends 120112,
    #    134138.  X token at 120112, Y at 134138.  7 iterations.  ("formation" gives the same here:
    #    A's shortage at 28020 comes first in that formation.)
    c = make_case([group([hosted(0, pp=2, kv=2), hosted(1, pp=2, kv=1)], pp=2, B=4)], [[0], [0]],
                  [(0, 0, 4, 2, None, None), (0, 1, 8, 1, None, None), (0, 1, 8, 1, None, None)],
                  2, budget=16, block=4)
    ok &= check_safety_net("the rejected reading: step 3 per attempt livelocks", c, "attempt")
    expect = [("good", 0, 28020, 64040, 2, 0), ("good", 0, 120112, 120112, 1, 1),
              ("good", 0, 134138, 134138, 1, 0)]
    ok &= check("  ... completes under step 3 rule group", c, expect, 7, "group")
    ok &= check("  ... completes under step 3 rule formation", c, expect, 7, "formation")

    # 15. Not hand-derived: a case --stress found, shrunk to 4 requests, on which step 3 rule
    #    "formation" livelocks too (slack puts m1 first in later formations, which take back the
    #    victims), while "group" completes it.
    ok &= check_safety_net("doc defect: step 3 per formation livelocks", FORMATION_LIVELOCK,
                           "formation")
    res = simulate(FORMATION_LIVELOCK, audit=True, step3_rule="group")
    done = all(r["status"] in ("good", "late") for r in res["requests"])
    print(("ok   %s" if done else "FAIL %s") % "  ... completes under step 3 rule group")
    ok &= done

    print("self-test " + ("passed" if ok else "FAILED"))
    return ok


USAGE = """usage: llm_reference.py [--step3-rule RULE] CASE.json > RESULTS.json
       llm_reference.py --self-test
       llm_reference.py --random-case SEED > CASE.json
       llm_reference.py [--step3-rule RULE] --stress N [FIRST_SEED]
RULE: group (default: the document's rule), or the rejected readings attempt and formation
(reading N2)
"""


def main(argv):
    args = argv[1:]
    rule = "group"
    if len(args) >= 2 and args[0] == "--step3-rule":
        rule = args[1]
        args = args[2:]
        if rule not in STEP3_RULES:
            sys.stderr.write(USAGE)
            return 2
    if args == ["--self-test"]:
        return 0 if self_test() else 1
    if len(args) == 2 and args[0] == "--random-case":
        json.dump(random_case(int(args[1])), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    if len(args) in (2, 3) and args[0] == "--stress":
        return 1 if stress(int(args[1]), int(args[2]) if len(args) == 3 else 0, rule) else 0
    if len(args) != 1 or args[0].startswith("--"):
        sys.stderr.write(USAGE)
        return 2
    with open(args[0]) as fh:
        case = json.load(fh)
    try:
        res = simulate(case, step3_rule=rule)
    except SafetyNetError as e:
        sys.stderr.write("llm_reference: safety net: %s\n" % e)
        return 3
    json.dump(res, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
