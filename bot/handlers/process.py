"""The commands of the work process: handover, estimates and the customer's approval, acceptance,
ratings, customer profiles and reports (the process itself is described in bot/process.py)."""

from __future__ import annotations

from bot import clocks
from bot import tickets as svc
from bot.commands import Command
from bot.config import METRICS, PRIORITIES, Target
from bot.handlers.base import Env, Handlers, load_ticket, public, say, store_public, triage
from bot.identity import ensure_contact
from bot.process import dm, team_members
from bot.quoting import quote
from bot.quoting import title as shown_title
from bot.reports import ReportError, build_report, customer_by_key, period_for
from bot.sla import WEEKDAYS
from bot.statuses import Status, status_label
from bot.types import Button, Field, Reply
from bot.views import TYPE_NAMES
from storage.models import Calendar, Contact, Contract, Person, SupportTeam, Ticket

PROFILE_TICKETS = 10  # open tickets listed by key in a customer profile

HANDLERS = Handlers()


@HANDLERS.command("handover")
async def _handover(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    if ticket.status in svc.DONE_STATUSES:
        raise svc.Refusal(f"{ticket.key} is {ticket.status}; reopen it before handing it over")
    teams = {t.name.lower(): t for t in await SupportTeam.all().order_by("name")}
    team = teams.get(cmd.get("team").lower())
    if team is None:
        known = ", ".join(t.name for t in teams.values()) or "none in the config"
        raise svc.Refusal(f"no support team '{cmd.get('team')}'; known teams: {known}")
    if team.name == ticket.team:
        raise svc.Refusal(f"{ticket.key} is already with the {team.name} team")
    old_team, ticket.team = ticket.team, team.name
    previous = await Person.filter(id=ticket.assignee_id).first() if ticket.assignee_id else None
    cleared = previous if previous is not None and previous.pid not in team.members else None
    if cleared:
        ticket.assignee_id = None
        ticket.rank = None
    summary = cmd.get("text")
    note = f"Handover from {old_team or 'no team'} to {team.name}" + (f": {summary}" if summary else ".")
    await svc.store_message(ticket, env.who, platform=env.who.actor.platform.value, message_id=env.message_id,
                            text=note, internal=True, now=env.now)
    await svc.audit(ticket, env.who, "handover", env.now, **{
        "from": old_team, "to": team.name, "summary": summary, "unassigned": cleared.pid if cleared else None})
    await svc.save(ticket, env.now)  # the SLA clocks are left exactly as they were
    about = f" Summary: {summary}" if summary else ""
    replies = [say(f"{ticket.key} handed over to the {team.name} team."
                   + (f" It is no longer assigned to {cleared.name}." if cleared else "")),
               triage(ticket, f"{ticket.key} handed over from {old_team or 'no team'} to {team.name} by "
                              f"{env.who.name}.{about}")]
    me = env.who.person.pid if env.who.person else None
    for person in await team_members(team.name):
        if person.pid != me:
            replies.append(dm(person, f"{env.who.name} handed {ticket.key} over to your team ({team.name}): "
                                      f"{shown_title(ticket.title)}.{about}", ticket))
    if cleared and cleared.pid != me:
        replies.append(dm(cleared, f"{ticket.key} went to the {team.name} team; it is no longer assigned to you.",
                          ticket))
    return replies


# -- estimates, approval, delivery --------------------------------------------------------------------


async def _assignee_dm(ticket: Ticket, text: str) -> list[Reply]:
    person = await Person.filter(id=ticket.assignee_id).first() if ticket.assignee_id else None
    return [dm(person, text, ticket)] if person else []


@HANDLERS.command("estimate")
async def _estimate(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    if ticket.type not in svc.APPROVAL_TYPES:
        raise svc.Refusal(f"not allowed: {ticket.key} is of type {TYPE_NAMES[ticket.type].lower()}; estimates are "
                          f"for change requests and development. Set the type first: "
                          f"`/helpdesk type {ticket.key} change_request`")
    if ticket.status in (*svc.DONE_STATUSES, Status.DELIVERED_TO_TEST, Status.IN_PRODUCTION):
        raise svc.Refusal(f"{ticket.key} is {status_label(ticket.status)}; an estimate comes before the work")
    minutes, scope = cmd.get("duration"), cmd.get("text")
    ticket.estimate_minutes, ticket.estimate_scope, ticket.approval = minutes, scope, "pending"
    size = clocks.minutes_text(minutes)
    text = f"Estimate for {ticket.key}: {size}" + (f" for {scope}" if scope else "")
    # The estimate is an agent's public reply: it answers the customer (first and next response).
    await store_public(env, ticket, text)
    await svc.on_agent_public_reply(ticket, env.who, env.now)
    await svc.audit(ticket, env.who, "estimate", env.now, minutes=minutes, scope=scope)
    await svc.change_status(ticket, env.who, "awaiting_approval", env.now, reason=f"estimate {size}")
    await svc.save(ticket, env.now)
    card = public(ticket, f"*{env.who.name}* estimates {ticket.key} at *{size}*."
                          + (f"\nScope: {scope}" if scope else "")
                          + "\nApprove to start the work, or reject with a reason.",
                  title=f"Estimate for {ticket.key}: {size}",
                  fields=(Field("Estimate", size), Field("Scope", scope or "as discussed in this thread")),
                  buttons=(Button("Approve", f"approve {ticket.key}", style="primary"),
                           Button("Reject", f"reject {ticket.key}", style="danger", needs_input="Why?")),
                  kind="approval")
    return [say(f"Estimate sent: {ticket.key} is awaiting the customer's approval (SLA paused)."), card,
            triage(ticket, f"{ticket.key}: {env.who.name} sent an estimate of {size}; awaiting approval.")]


async def _customer_step(env: Env, cmd: Command, status: str, what: str) -> Ticket:
    """The ticket for a customer's approve/reject/accept, refused unless it waits for exactly that step."""
    ticket = await load_ticket(env, cmd.get("key"))  # another customer's contact learns nothing
    if ticket.status != status:
        raise svc.Refusal(f"{ticket.key} is {status_label(ticket.status)}, not {status_label(status)}; "
                          f"there is nothing to {what}")
    await ensure_contact(env.who, env.now)
    return ticket


@HANDLERS.command("approve")
async def _approve(env: Env, cmd: Command) -> list[Reply]:
    ticket = await _customer_step(env, cmd, "awaiting_approval", "approve")
    ticket.approval = "approved"
    await svc.audit(ticket, env.who, "approval", env.now, decision="approved", minutes=ticket.estimate_minutes)
    await svc.change_status(ticket, env.who, "in_progress", env.now, reason="estimate approved")
    await svc.save(ticket, env.now)
    size = clocks.minutes_text(ticket.estimate_minutes or 0)
    return [say(f"Thanks, you approved the estimate for {ticket.key}."),
            public(ticket, f"✅ {quote(env.who.name)} approved the estimate ({size}); work on {ticket.key} starts now.",
                   kind="approval"),
            triage(ticket, f"{ticket.key}: estimate approved by {quote(env.who.name)}; in progress."),
            *await _assignee_dm(ticket, f"{ticket.key}: the customer approved the estimate; work can start.")]


@HANDLERS.command("reject")
async def _reject(env: Env, cmd: Command) -> list[Reply]:
    reason = cmd.get("text")
    if not reason:
        raise svc.Refusal(f"say why, so the estimate can be revised: `/helpdesk reject {cmd.get('key')} <reason>`")
    ticket = await _customer_step(env, cmd, "awaiting_approval", "reject")
    ticket.approval = "rejected"
    await svc.audit(ticket, env.who, "approval", env.now, decision="rejected", reason=reason)
    await svc.change_status(ticket, env.who, "open", env.now, reason=reason)
    await store_public(env, ticket, f"Rejected the estimate: {reason}")
    await svc.on_customer_message(ticket, env.who, env.now)  # the reason is a message support answers
    await svc.save(ticket, env.now)
    return [say(f"You rejected the estimate for {ticket.key}; support will get back to you."),
            public(ticket, f"❌ {quote(env.who.name)} rejected the estimate for {ticket.key}: {quote(reason)}",
                   kind="approval"),
            triage(ticket, f"{ticket.key}: estimate rejected by {quote(env.who.name)}: {quote(reason)}"),
            *await _assignee_dm(ticket, f"{ticket.key}: the customer rejected the estimate: {quote(reason)}")]


@HANDLERS.command("accept")
async def _accept(env: Env, cmd: Command) -> list[Reply]:
    ticket = await _customer_step(env, cmd, "delivered_to_test", "accept")
    await svc.audit(ticket, env.who, "acceptance", env.now)
    await svc.change_status(ticket, env.who, "in_production", env.now, reason="accepted in test")
    await svc.save(ticket, env.now)
    return [say(f"Thanks, you accepted {ticket.key}."),
            public(ticket, f"✅ {quote(env.who.name)} accepted {ticket.key}; it moves to production.", kind="delivery"),
            triage(ticket, f"{ticket.key}: accepted by {quote(env.who.name)}; in production."),
            *await _assignee_dm(ticket, f"{ticket.key}: the customer accepted the delivery; it is in production.")]


@HANDLERS.command("rate")
async def _rate(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    rating = cmd.get("rating")
    if not 1 <= rating <= 5:
        raise svc.Refusal(f"rate from 1 to 5, e.g. `/helpdesk rate {ticket.key} 5`")
    if ticket.status not in svc.DONE_STATUSES:
        raise svc.Refusal(f"{ticket.key} is {status_label(ticket.status)}; you can rate it once it is resolved")
    await ensure_contact(env.who, env.now)
    old, ticket.csat = ticket.csat, rating
    await svc.audit(ticket, env.who, "rating", env.now, **{"from": old, "to": rating})
    await svc.save(ticket, env.now)
    return [say(f"Thank you for rating {ticket.key} {rating}/5!"),
            triage(ticket, f"{ticket.key} rated {rating}/5 by {quote(env.who.name)}.")]


# -- customer profile and report ---------------------------------------------------------------------


def hours_text(hours: dict[str, list[str]]) -> str:
    """{'mon': ['08:00-16:00'], ...} -> 'mon-thu 08:00-16:00; fri 08:00-12:00, 13:00-16:00'."""
    groups: list[tuple[list[str], list[str]]] = []  # runs of consecutive days with the same hours
    for day in WEEKDAYS:
        periods = list(hours.get(day) or [])
        if groups and groups[-1][1] == periods:
            groups[-1][0].append(day)
        else:
            groups.append(([day], periods))
    shown = [(f"{days[0]}-{days[-1]}" if len(days) > 1 else days[0]) + " " + ", ".join(periods)
             for days, periods in groups if periods]
    return "; ".join(shown) or "closed"


def targets_text(target: Target) -> str:
    return " · ".join(f"{m.replace('_', ' ')} {clocks.minutes_text(target.minutes(m) or 0)}" for m in METRICS)


def sla_text(entry: dict[str, object]) -> str:
    sla: dict[str, dict[str, int]] = entry["sla"]  # type: ignore[assignment]
    return " · ".join(f"{m.replace('_', ' ')} {sla[m]['met']} met / {sla[m]['missed']} missed" for m in METRICS)


def summary_text(entry: dict[str, object]) -> str:
    median = entry["median_first_response_minutes"]
    first = clocks.minutes_text(median) if isinstance(median, float | int) else "—"
    return (f"open {entry['open']} · resolved {entry['resolved']} · {sla_text(entry)} · "
            f"median first response {first} · CSAT {csat_text(entry)}")


def csat_text(entry: dict[str, object]) -> str:
    csat: dict[str, object] = entry["csat"]  # type: ignore[assignment]
    count = csat["count"]
    return f"{csat['mean']} from {count} rating{'s' if count != 1 else ''}" if count else "no ratings"


@HANDLERS.command("customer")
async def _customer(env: Env, cmd: Command) -> list[Reply]:
    try:
        customer = await customer_by_key(cmd.get("customer"))
    except ReportError as exc:
        raise svc.Refusal(str(exc)) from None
    contract = await Contract.get(id=customer.contract_id)
    calendar = await Calendar.get(id=contract.calendar_id)
    manager = await Person.filter(pid=customer.account_manager).first() if customer.account_manager else None
    members = await team_members(contract.team)
    contacts = await Contact.filter(customer_id=customer.id, erased_at__isnull=True).order_by("id")
    open_tickets = await Ticket.filter(customer_id=customer.id, status__in=svc.OPEN_STATUSES).order_by("number")
    period = period_for(env.now)
    report = await build_report(env.now, period, customer.key)
    entry = report["customers"][0]
    holidays = [d for d in calendar.holidays if d >= env.now.date().isoformat()]
    fields = [
        Field("Contract", f"{contract.name} · warning at {round(contract.warn_at * 100)} % of a target"),
        Field("Calendar", f"{calendar.name} ({calendar.timezone}): {hours_text(calendar.hours)}"
                          + (f" · holidays {', '.join(holidays[:5])}" if holidays else "")),
        *(Field(f"{p} targets", targets_text(Target(**contract.targets[p])))
          for p in PRIORITIES if p in contract.targets),
        Field("Account manager", f"{manager.name} (@{manager.pid})" if manager else "none"),
        Field("Support team", f"{contract.team}: {', '.join(p.name for p in members) or 'no members'}"
              if contract.team else "none"),
        Field("Contacts", "; ".join(f"{quote(c.display_name or c.user_id)} ({c.platform}, notifications "
                                    f"{'on' if c.notifications else 'off'})" for c in contacts) or "none yet"),
        Field("Open tickets", f"{len(open_tickets)}" + (": " + ", ".join(
            f"{t.key} ({status_label(t.status)})" for t in open_tickets[:PROFILE_TICKETS]) if open_tickets
            else "") + (f" and {len(open_tickets) - PROFILE_TICKETS} more"
                        if len(open_tickets) > PROFILE_TICKETS else "")),
        Field(f"SLA {period.first} – {period.last}", sla_text(entry)),
        Field("CSAT", csat_text(entry)),
    ]
    return [say(f"{customer.name} ({customer.key})", title=f"{customer.name} ({customer.key})", fields=tuple(fields))]


@HANDLERS.command("report")
async def _report(env: Env, cmd: Command) -> list[Reply]:
    key = (cmd.get("text") or "").strip() or None
    try:
        report = await build_report(env.now, period_for(env.now), key)
    except ReportError as exc:
        raise svc.Refusal(str(exc)) from None
    period = report["period"]
    fields = [Field(entry["customer"], summary_text(entry)) for entry in report["customers"]]
    fields.append(Field("Open per person", ", ".join(f"{c['person']} {c['open']}" for c in report["consultants"])
                        or "nobody"))
    title = f"Report {period['from']} – {period['to']}"
    return [say(f"{title} (UTC days): backlog, SLA attainment and CSAT. `chatdesk report` gives CSV and JSON.",
                title=title, fields=tuple(fields))]

