"""Write a validated org config to the database in one transaction, idempotently."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tortoise.models import Model
from tortoise.transactions import in_transaction

from bot.config import OrgConfig
from storage.models import Calendar, ChannelBinding, Contract, Customer, Person, SupportTeam


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Entries in the database but not in the file, left alone because --prune was not given.
    kept: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


async def _upsert(model: type[Model], lookup: dict[str, Any], values: dict[str, Any], label: str,
                  report: ApplyReport) -> Any:
    row = await model.filter(**lookup).first()
    if row is None:
        row = await model.create(**lookup, **values)
        report.created.append(label)
        return row
    changed = [k for k, v in values.items() if getattr(row, k) != v]
    if changed:
        for k in changed:
            setattr(row, k, values[k])
        await row.save(update_fields=changed)
        report.updated.append(f"{label} ({', '.join(changed)})")
    return row


class _DryRun(Exception):
    """Raised inside the transaction so a dry run rolls back everything it did."""


async def apply_config(cfg: OrgConfig, *, prune: bool = False, dry_run: bool = False) -> ApplyReport:
    """Write `cfg`; entries missing from it are removed only with `prune`; `dry_run` writes nothing."""
    report = ApplyReport()
    try:
        async with in_transaction():
            await _apply(cfg, report, prune=prune)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return report


async def _apply(cfg: OrgConfig, report: ApplyReport, *, prune: bool) -> None:
    calendars: dict[str, Calendar] = {}
    for name, raw in cfg.calendars.items():
        values = {
            "timezone": raw["timezone"],
            "hours": raw.get("hours", {}),
            "holidays": [str(d) for d in raw.get("holidays", [])],
        }
        calendars[name] = await _upsert(Calendar, {"name": name}, values, f"calendar {name}", report)
    contracts: dict[str, Contract] = {}
    for name, contract in cfg.contracts.items():
        values = {
            "calendar_id": calendars[contract.calendar].id,
            "team": contract.team,
            "warn_at": contract.warn_at,
            "targets": {p: t.model_dump() for p, t in contract.targets.items()},
            "hours": contract.hours.model_dump() if contract.hours else None,
        }
        contracts[name] = await _upsert(Contract, {"name": name}, values, f"contract {name}", report)
    for p in cfg.people:
        values = {"name": p.name, "role": p.role, "slack": p.slack, "teams": p.teams, "email": p.email,
                  "active": True}
        await _upsert(Person, {"pid": p.id}, values, f"person {p.id}", report)
    active = {p.id for p in cfg.people}
    for person_row in await Person.filter(active=True).exclude(pid__in=list(active) or [""]):
        if not prune:
            report.kept.append(f"person {person_row.pid}")
            continue
        person_row.active = False
        await person_row.save(update_fields=["active"])
        report.removed.append(f"person {person_row.pid} (deactivated)")
    for name, team in cfg.support_teams.items():
        await _upsert(SupportTeam, {"name": name}, {"members": list(team.members)}, f"team {name}", report)
    removed_teams = await SupportTeam.exclude(name__in=list(cfg.support_teams) or [""])
    for team_row in removed_teams:
        if not prune:
            report.kept.append(f"team {team_row.name}")
            continue
        await team_row.delete()
        report.removed.append(f"team {team_row.name}")

    wanted: dict[tuple[str, str], dict[str, Any]] = {}
    for c in cfg.customers:
        values = {"name": c.name, "contract_id": contracts[c.contract].id, "account_manager": c.account_manager,
                  "intake": cfg.intake.merged(c.intake)}
        customer = await _upsert(Customer, {"key": c.key}, values, f"customer {c.key}", report)
        for ch in c.channels:
            wanted[(ch.platform, ch.channel_id)] = {
                "tenant": ch.tenant_id, "purpose": "customer", "customer_id": customer.id,
            }
        for domain in c.email_domains:  # a mail domain is kept as the customer's binding to it
            wanted[("email", domain)] = {"tenant": "", "purpose": "email_domain", "customer_id": customer.id}
    for ch in cfg.triage:
        wanted[(ch.platform, ch.channel_id)] = {"tenant": ch.tenant_id, "purpose": "triage", "customer_id": None}
    for (platform, channel), values in wanted.items():
        await _upsert(ChannelBinding, {"platform": platform, "channel": channel}, values,
                      f"channel {platform}:{channel}", report)
    for binding in await ChannelBinding.all():
        if (binding.platform, binding.channel) not in wanted:
            if not prune:
                report.kept.append(f"channel {binding.platform}:{binding.channel}")
                continue
            await binding.delete()
            report.removed.append(f"channel {binding.platform}:{binding.channel}")
