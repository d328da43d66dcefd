"""docs/performance.md's pipeline section and its plots, from ``python -m bench.pipeline``'s results."""

from __future__ import annotations

from pathlib import Path

from bench.report import write_section

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"
TARGETS = {"rest_p99": 0.25, "alert_p99_at_30": 1.0, "sustained": 100, "drain": 100, "book_p99": 0.05,
           "search_p99": 0.1, "dashboard_p95": 0.1}  # fmt: skip


def ms(value) -> str:
    return "–" if value is None else f"{1000 * value:,.0f} ms"


def _plots(results: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    FIGURES.mkdir(parents=True, exist_ok=True)
    shown = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for database, r in results.items():
        rates = [s for s in r.get("rates", []) if s["complete_to_invitation"].get("n")]
        if not rates:
            continue
        x = [s["rate"] for s in rates]
        for ax, hop, title in ((axes[0], "complete_to_invitation", "completed → invitation email"),
                               (axes[1], "submission_to_alert", "submitted → therapist's alert email")):  # fmt: skip
            for q, style in (("p50", "-o"), ("p99", "--o")):
                ax.plot(x, [s[hop].get(q, float("nan")) for s in rates], style, label=f"{database} {q}")
            ax.set_title(title)
            ax.set_xlabel("arrivals (flows/s, open loop)")
            ax.set_ylabel("seconds")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
    axes[1].axhline(1.0, color="grey", lw=0.8, ls=":", label="target at 30/s: 1 s")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES / "pipeline-latency.png", dpi=110)
    plt.close(fig)
    shown.append("![latency against arrival rate](figures/pipeline-latency.png)")

    fig, ax = plt.subplots(figsize=(6, 4))
    for database, r in results.items():
        d = r.get("drain")
        if d and d.get("curve"):
            ax.plot([t for t, _ in d["curve"]], [n for _, n in d["curve"]],
                    label=f"{database}: {d['sessions']:,} in {d['seconds']:,.0f} s")  # fmt: skip
    ax.set_xlabel("seconds after the workers started")
    ax.set_ylabel("invitations delivered")
    ax.set_title("draining a backlog of completed sessions")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES / "pipeline-drain.png", dpi=110)
    plt.close(fig)
    shown.append("![backlog drain](figures/pipeline-drain.png)")
    return shown


def markdown(results: dict) -> str:
    lines = ["## The main flow under load (`python -m bench.pipeline`)", ""]
    first = next(iter(results.values()))
    m = first.get("machine", {})
    lines += [
        f"Machine: {m.get('cpus')} CPUs, {m.get('memory_gb')} GB, Python {m.get('python')}, {m.get('system')}; "
        f"seed {first.get('seed')}; every process of the system on this one machine (gunicorn services with 2 "
        "workers each, one worker process per service, the broker, the database, Keycloak, the SMTP sink in its own "
        "process, the driver). A flow: the desk completes a session (API), the invitation arrives at the sink, the "
        "client answers the questionnaire page with a risk answer, the therapist's alert email arrives. Latencies "
        "are counted from each flow's planned start (open loop). Each database's figures come from one run unless "
        "its section says otherwise.",
        "",
    ]
    for database, r in results.items():
        lines += [f"### {database} (run started {r.get('started', '?')[:16]} UTC)", ""]
        if r.get("flow_run"):
            lines += [f"At rest, the rate steps and the raw ceiling come from a second run (`--flow`, started "
                      f"{r['flow_run']['started'][:16]} UTC); every other figure from the run above.", ""]  # fmt: skip
        rest = r.get("rest")
        if rest:
            lines += ["| at rest, one flow at a time | p50 | p95 | p99 | n |", "|---|---|---|---|---|"]
            for hop, label in (("complete_to_invitation", "completed → invitation"),
                               ("submission_to_alert", "submitted → alert email")):  # fmt: skip
                h = rest[hop]
                lines.append(f"| {label} | {ms(h.get('p50'))} | {ms(h.get('p95'))} | {ms(h.get('p99'))} | {h['n']} |")
            lines.append("")
        if r.get("rates"):
            lines += ["| arrivals | flows | sustained | invitation p50 / p99 | alert p50 / p99 | CPU-s per flow |",
                      "|---|---|---|---|---|---|"]  # fmt: skip
            for s in r["rates"]:
                inv, alert = s["complete_to_invitation"], s["submission_to_alert"]
                lines.append(
                    f"| {s['rate']:g}/s | {s['flows']:,} | {'yes' if s['sustained'] else 'no'} "
                    f"(backlog {s['backlog_growth_second_half']:+,}) | {ms(inv.get('p50'))} / {ms(inv.get('p99'))} | "
                    f"{ms(alert.get('p50'))} / {ms(alert.get('p99'))} | {s['cpu_per_flow']:.3f} |"
                )
            held = [s["rate"] for s in r["rates"] if s["sustained"]]
            lines += ["", f"Highest rate sustained without the backlog growing: **{max(held) if held else 0:g} "
                      "flows/s**.", ""]  # fmt: skip
            step = max((s for s in r["rates"] if s["sustained"]), key=lambda s: s["rate"], default=None)
            if step:
                parts = sorted(step["cpu_seconds"].items(), key=lambda kv: -kv[1])
                lines += [f"CPU-seconds per flow at {step['rate']:g} flows/s, by process: "
                          + ", ".join(f"{k} {v / max(1, step['flows']):.4f}" for k, v in parts if v > 0)
                          + f" (total {step['cpu_per_flow']:.3f}).", ""]  # fmt: skip
        d = r.get("drain")
        if d:
            lines += [f"Backlog drain: {d['sessions']:,} sessions completed while every worker was stopped; after "
                      f"they started, the last invitation arrived at {d['seconds']:,.0f} s: **{d['flows_per_second']:,}"
                      f" flows/s** ({d['delivered']:,} delivered, first after {d['first_invitation_after']} s; "
                      f"{d['cpu_per_flow']:.3f} CPU-s per invitation).", ""]  # fmt: skip
        c, e = r.get("ceiling"), r.get("events")
        if c:
            ceiling = c["end_to_end_per_second"] or c["produce_per_second"]
            read = (f"{c['end_to_end_per_second']:,}/s end to end" if c["end_to_end_per_second"] else
                    f"the reader had {c['read']:,} of them when it ran out of time (no end-to-end rate; the fraction "
                    "below is of the produce rate)")  # fmt: skip
            lines += [
                f"Raw ceiling on the same broker (kafka-python alone, {c['records']:,} records of "
                f"{c['bytes']:,} bytes, the system's producer and consumer settings): "
                f"{c['produce_per_second']:,} produced/s, {read}."
            ]
            step = max((s for s in r.get("rates", []) if s["sustained"]), key=lambda s: s["rate"], default=None)
            if e and step and r.get("rates"):
                flows = sum(s["flows"] for s in r["rates"]) + r["rest"]["complete_to_invitation"]["n"]
                per_flow = e["records"] / max(1, flows)
                rate = per_flow * step["rate"]
                lines += [f"A flow puts about {per_flow:.1f} records on the bus (every topic, counted after the rate "
                          f"steps); at {step['rate']:g} flows/s that is {rate:,.0f} events/s, "
                          f"{100 * rate / max(1, ceiling):.1f} % of the raw ceiling."]  # fmt: skip
            lines.append("")
        for b in r.get("scale", []):
            lines.append(f"- {b['replicas']} replica(s) of each worker, a burst of {b['flows']:,} flows: "
                         f"{b['finished']:,} finished within the burst's wait"
                         f"{'' if b['finished'] == b['flows'] else ' (the rest after it, before the count)'}, "
                         f"{b['flows_per_second']} flows/s, {b['cpu_per_flow']:.3f} CPU-s per flow; counted once "
                         f"quiet: lost {b['lost']}, duplicated {b['duplicated']}, handled out of partition "
                         f"order {b['out_of_order']}.")  # fmt: skip
        if r.get("scale"):
            lines.append("")
        st = r.get("staff")
        if st:
            a, u = st["booking_alone"], st["under_load"]
            book, search = u["book"], u["search"]
            lines += [
                f"Front desk: one booking request costs the scheduling service "
                f"**{a['scheduling_web_cpu_ms_per_request']} ms of CPU** (bookings alone at {a['rate']:g}/s; "
                f"p50 {ms(a['book'].get('p50'))}, p99 {ms(a['book'].get('p99'))}).",
                f"{st.get('desk_users', 20)} desk users together at {u['rate']:g} requests/s while the pipeline runs "
                f"at {st['pipeline_meanwhile'].get('rate', 0):g} flows/s: booking p50 {ms(book.get('p50'))} / p99 "
                f"{ms(book.get('p99'))}, availability p50 {ms(search.get('p50'))} / p99 {ms(search.get('p99'))} "
                f"({u['errors']} errors).",
            ]
            if st["capacity_steps"]:
                steps = ", ".join(f"{s['rate']:g}/s: book p99 {ms(s['book'].get('p99'))}, search p99 "
                                  f"{ms(s['search'].get('p99'))}" for s in st["capacity_steps"])  # fmt: skip
                lines.append(f"Desk capacity with the pipeline at 30 flows/s (p99 ≤ 100 ms): "
                             f"**{st['capacity_requests_per_second'] or '< ' + str(st['capacity_steps'][0]['rate'])} "
                             f"requests/s** ({steps}).")  # fmt: skip
            sus = st.get("under_sustained_load")
            if sus:
                lines.append(
                    f"The same desk beside the pipeline at {sus['pipeline_rate']:g} flows/s (what the machine "
                    f"sustains): booking p50 {ms(sus['book'].get('p50'))} / p99 {ms(sus['book'].get('p99'))}, "
                    f"availability p50 {ms(sus['search'].get('p50'))} / p99 {ms(sus['search'].get('p99'))} "
                    f"({sus['errors']} errors)."
                )  # fmt: skip
            lines.append("")
        db = r.get("dashboard")
        if db:
            lines += [f"Dashboard with {db['questionnaires']:,} scored questionnaires in the database (seeded in "
                      f"{db['seed_seconds']:,.0f} s by `flask --app services.feedback seed-history`): a caseload of "
                      f"{db['caseload_rows']} clients p50 {ms(db['caseload'].get('p50'))} / p95 "
                      f"**{ms(db['caseload'].get('p95'))}**; a client's progress p50 {ms(db['progress'].get('p50'))} "
                      f"/ p95 **{ms(db['progress'].get('p95'))}** (the JSON API the pages use; one therapist, "
                      f"sequential).", ""]  # fmt: skip
    lines += _plots(results)
    return "\n".join(lines)


def write(results: dict) -> None:
    write_section("pipeline", markdown(results))
