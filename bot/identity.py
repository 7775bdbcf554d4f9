"""Who is speaking, and in which role: a configured person, a customer's contact, or a stranger."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from bot import memo
from bot.statuses import AGENT_ROLES, Role
from bot.types import Actor, Place, Platform
from storage import rows
from storage.models import ChannelBinding, Contact, Customer, Person

CONSOLE_TRIAGE = "triage"

log = logging.getLogger("chatdesk.identity")


@dataclass
class Who:
    actor: Actor
    place: Place
    role: str  # a bot.statuses.Role
    person: Person | None = None
    contact: Contact | None = None
    customer: Customer | None = None  # the contact's customer, or the customer whose channel this is
    binding: ChannelBinding | None = None

    @property
    def is_agent(self) -> bool:
        return self.role in AGENT_ROLES

    @property
    def channel_label(self) -> str:
        return f"{self.place.platform.value}:{self.place.channel}"

    @property
    def audit_actor(self) -> str:
        if self.person is not None:
            return f"person:{self.person.pid}"
        if self.contact is not None:
            return f"contact:{self.contact.id}"
        return f"{self.actor.platform.value}:{self.actor.user_id}"

    @property
    def name(self) -> str:
        if self.person is not None:
            return self.person.name
        return self.actor.display_name or self.actor.user_id


async def find_person(platform: Platform, user_id: str, aad_object_id: str | None = None) -> Person | None:
    async def load() -> Person | None:
        if platform == Platform.SLACK:
            return await Person.filter(slack=user_id, active=True).first()
        if platform == Platform.TEAMS:
            ids = [i for i in (user_id, aad_object_id) if i]
            return await Person.filter(teams__in=ids, active=True).first()
        return await Person.filter(pid=user_id, active=True).first()

    return await memo.read(("person", platform, user_id, aad_object_id), load)


async def find_binding(place: Place) -> ChannelBinding | None:
    if place.platform == Platform.CONSOLE:
        # The console plays one channel per customer (named by its key) and one triage channel.
        if place.channel == CONSOLE_TRIAGE:
            return ChannelBinding(platform="console", tenant="console", channel=CONSOLE_TRIAGE, purpose="triage")
        customer = await Customer.filter(key=place.channel).first()
        if customer is None:
            return None
        binding = ChannelBinding(platform="console", tenant="console", channel=place.channel, purpose="customer")
        binding.customer_id = customer.id
        return binding
    return await memo.read(("binding", place.platform, place.channel),
                           lambda: ChannelBinding.filter(platform=place.platform.value, channel=place.channel).first())


def binding_admits(binding: ChannelBinding, place: Place) -> bool:
    """A Teams activity counts for a binding only from the binding's own tenant.

    Conversation ids are not secrets: without this check, an activity naming ACME's
    conversation with another tenant's id would act in ACME's channel.
    """
    if place.platform != Platform.TEAMS or not binding.tenant:
        return True
    return place.tenant == binding.tenant


def contact_admitted(actor: Actor, binding: ChannelBinding) -> bool:
    """Only people of the customer's own workspace (Slack) or tenant (Teams) are its contacts.

    A shared channel can hold several organisations: a user of one customer's
    workspace posting in another customer's channel must not become its contact.
    """
    if actor.platform == Platform.CONSOLE:
        return True
    return bool(binding.tenant) and actor.tenant == binding.tenant


async def resolve(actor: Actor, place: Place) -> Who:
    person = await find_person(actor.platform, actor.user_id, actor.aad_object_id)
    binding = None if place.is_direct else await find_binding(place)
    if binding is not None and not binding_admits(binding, place):
        log.warning("ignored a %s activity for channel %s from tenant %s: the channel belongs to tenant %s",
                    place.platform.value, place.channel, place.tenant, binding.tenant)
        return Who(actor, place, Role.STRANGER)
    customer = None
    if binding is not None and binding.purpose == "customer" and binding.customer_id is not None:
        customer_id = binding.customer_id
        customer = await memo.read(("customer", customer_id), lambda: Customer.get(id=customer_id))
    if person is not None:
        return Who(actor, place, person.role, person=person, customer=customer, binding=binding)
    if customer is not None and binding is not None:
        if not contact_admitted(actor, binding):
            log.warning("ignored %s user %s of workspace %s in %s's channel %s: not the customer's workspace",
                        actor.platform.value, actor.user_id, actor.tenant or "(none)", customer.key, place.channel)
            return Who(actor, place, Role.STRANGER)
        contact = await rows.first(Contact, platform=actor.platform.value, tenant=actor.tenant,
                                   user_id=actor.user_id, customer_id=customer.id)
        return Who(actor, place, Role.CONTACT, contact=contact, customer=customer, binding=binding)
    # Elsewhere (a DM with the bot, say) a known contact keeps their role if they belong to one customer.
    contacts = await Contact.filter(platform=actor.platform.value, tenant=actor.tenant,
                                    user_id=actor.user_id).prefetch_related("customer")
    if len({c.customer_id for c in contacts}) == 1:
        return Who(actor, place, Role.CONTACT, contact=contacts[0], customer=contacts[0].customer, binding=binding)
    return Who(actor, place, Role.STRANGER, binding=binding)


async def ensure_contact(who: Who, now: datetime) -> Contact:
    """The contact row for a customer's person, created on their first message."""
    assert who.customer is not None
    if who.contact is None:
        contact, _ = await Contact.get_or_create(
            platform=who.actor.platform.value,
            tenant=who.actor.tenant,
            user_id=who.actor.user_id,
            customer_id=who.customer.id,
            defaults={"display_name": who.actor.display_name, "created_at": now},
        )
        who.contact = contact
    return who.contact


async def person_by_ref(ref_pid: str | None, ref_platform_id: str | None, platform: Platform) -> Person | None:
    if ref_pid:
        return await Person.filter(pid=ref_pid, active=True).first()
    if ref_platform_id:
        return await find_person(platform, ref_platform_id, ref_platform_id)
    return None
