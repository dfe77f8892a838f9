"""Realistic synthetic data for the benchmark: Russian contacts, their numbers, PBX events.

Everything is deterministic for a given seed, so two runs measure the same work.
Numbers are Russian (country code 7): mobiles ``79xx`` and city lines of big cities,
written the many ways people write them; their canonical key is ``7`` + 10 digits, the
form :class:`app.protocol.phones.PhoneNormalizer` produces for them.
"""

from __future__ import annotations

import csv
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MALE_FIRST = (
    "Александр", "Алексей", "Андрей", "Антон", "Артём", "Борис", "Вадим", "Валерий", "Василий", "Виктор",
    "Виталий", "Владимир", "Владислав", "Вячеслав", "Геннадий", "Георгий", "Григорий", "Денис", "Дмитрий",
    "Евгений", "Егор", "Иван", "Игорь", "Илья", "Кирилл", "Константин", "Леонид", "Максим", "Михаил", "Никита",
    "Николай", "Олег", "Павел", "Пётр", "Роман", "Руслан", "Сергей", "Станислав", "Степан", "Тимур", "Фёдор",
    "Юрий", "Ярослав",
)
FEMALE_FIRST = (
    "Александра", "Алина", "Алла", "Анастасия", "Анна", "Валентина", "Валерия", "Вера", "Виктория", "Галина",
    "Дарья", "Диана", "Евгения", "Екатерина", "Елена", "Елизавета", "Жанна", "Зоя", "Инна", "Ирина", "Карина",
    "Кристина", "Ксения", "Лариса", "Людмила", "Маргарита", "Марина", "Мария", "Надежда", "Наталья", "Нина",
    "Оксана", "Ольга", "Полина", "Светлана", "София", "Тамара", "Татьяна", "Ульяна", "Юлия", "Яна",
)
#: Surnames as (masculine, feminine).
SURNAMES = tuple(
    (m, f) for m, f in (
        ("Иванов", "Иванова"), ("Смирнов", "Смирнова"), ("Кузнецов", "Кузнецова"), ("Попов", "Попова"),
        ("Васильев", "Васильева"), ("Петров", "Петрова"), ("Соколов", "Соколова"), ("Михайлов", "Михайлова"),
        ("Новиков", "Новикова"), ("Фёдоров", "Фёдорова"), ("Морозов", "Морозова"), ("Волков", "Волкова"),
        ("Алексеев", "Алексеева"), ("Лебедев", "Лебедева"), ("Семёнов", "Семёнова"), ("Егоров", "Егорова"),
        ("Павлов", "Павлова"), ("Козлов", "Козлова"), ("Степанов", "Степанова"), ("Николаев", "Николаева"),
        ("Орлов", "Орлова"), ("Андреев", "Андреева"), ("Макаров", "Макарова"), ("Никитин", "Никитина"),
        ("Захаров", "Захарова"), ("Зайцев", "Зайцева"), ("Соловьёв", "Соловьёва"), ("Борисов", "Борисова"),
        ("Яковлев", "Яковлева"), ("Григорьев", "Григорьева"), ("Романов", "Романова"), ("Воробьёв", "Воробьёва"),
        ("Сергеев", "Сергеева"), ("Кузьмин", "Кузьмина"), ("Фролов", "Фролова"), ("Александров", "Александрова"),
        ("Дмитриев", "Дмитриева"), ("Королёв", "Королёва"), ("Гусев", "Гусева"), ("Киселёв", "Киселёва"),
        ("Ильин", "Ильина"), ("Максимов", "Максимова"), ("Поляков", "Полякова"), ("Сорокин", "Сорокина"),
        ("Виноградов", "Виноградова"), ("Ковалёв", "Ковалёва"), ("Белов", "Белова"), ("Медведев", "Медведева"),
        ("Антонов", "Антонова"), ("Тарасов", "Тарасова"), ("Жуков", "Жукова"), ("Баранов", "Баранова"),
        ("Филиппов", "Филиппова"), ("Комаров", "Комарова"), ("Давыдов", "Давыдова"), ("Беляев", "Беляева"),
        ("Герасимов", "Герасимова"), ("Богданов", "Богданова"), ("Осипов", "Осипова"), ("Сидоров", "Сидорова"),
        ("Матвеев", "Матвеева"), ("Титов", "Титова"), ("Марков", "Маркова"), ("Миронов", "Миронова"),
        ("Крылов", "Крылова"), ("Куликов", "Куликова"), ("Карпов", "Карпова"), ("Власов", "Власова"),
        ("Мельников", "Мельникова"), ("Денисов", "Денисова"), ("Гаврилов", "Гаврилова"), ("Тихонов", "Тихонова"),
        ("Казаков", "Казакова"), ("Афанасьев", "Афанасьева"), ("Данилов", "Данилова"), ("Савельев", "Савельева"),
        ("Тимофеев", "Тимофеева"), ("Фомин", "Фомина"), ("Чернов", "Чернова"), ("Абрамов", "Абрамова"),
        ("Мартынов", "Мартынова"), ("Ефимов", "Ефимова"), ("Федотов", "Федотова"), ("Щербаков", "Щербакова"),
        ("Назаров", "Назарова"), ("Калинин", "Калинина"), ("Исаев", "Исаева"), ("Чернышёв", "Чернышёва"),
        ("Быков", "Быкова"), ("Маслов", "Маслова"), ("Родионов", "Родионова"), ("Коновалов", "Коновалова"),
        ("Лазарев", "Лазарева"), ("Воронин", "Воронина"), ("Климов", "Климова"), ("Филатов", "Филатова"),
        ("Пономарёв", "Пономарёва"), ("Голубев", "Голубева"), ("Кудрявцев", "Кудрявцева"), ("Прохоров", "Прохорова"),
        ("Наумов", "Наумова"), ("Потапов", "Потапова"), ("Журавлёв", "Журавлёва"), ("Овчинников", "Овчинникова"),
        ("Трофимов", "Трофимова"), ("Леонов", "Леонова"), ("Соболев", "Соболева"), ("Ермаков", "Ермакова"),
        ("Колесников", "Колесникова"), ("Гончаров", "Гончарова"), ("Емельянов", "Емельянова"),
        ("Никифоров", "Никифорова"),
        ("Грачёв", "Грачёва"), ("Котов", "Котова"), ("Гришин", "Гришина"), ("Ефремов", "Ефремова"),
        ("Архипов", "Архипова"), ("Громов", "Громова"), ("Кириллов", "Кириллова"), ("Малышев", "Малышева"),
        ("Панов", "Панова"), ("Моисеев", "Моисеева"), ("Румянцев", "Румянцева"), ("Акимов", "Акимова"),
        ("Кондратьев", "Кондратьева"), ("Бирюков", "Бирюкова"), ("Горбунов", "Горбунова"), ("Анисимов", "Анисимова"),
        ("Еремин", "Еремина"), ("Тихомиров", "Тихомирова"), ("Галкин", "Галкина"), ("Лукьянов", "Лукьянова"),
        ("Шевченко", "Шевченко"), ("Бондаренко", "Бондаренко"), ("Ткаченко", "Ткаченко"), ("Кравченко", "Кравченко"),
    )
)
#: Patronymics from the fathers' names, as (masculine, feminine).
PATRONYMICS = (
    ("Александрович", "Александровна"), ("Алексеевич", "Алексеевна"), ("Андреевич", "Андреевна"),
    ("Борисович", "Борисовна"), ("Викторович", "Викторовна"), ("Владимирович", "Владимировна"),
    ("Геннадьевич", "Геннадьевна"), ("Григорьевич", "Григорьевна"), ("Дмитриевич", "Дмитриевна"),
    ("Евгеньевич", "Евгеньевна"), ("Иванович", "Ивановна"), ("Игоревич", "Игоревна"),
    ("Константинович", "Константиновна"), ("Михайлович", "Михайловна"), ("Николаевич", "Николаевна"),
    ("Олегович", "Олеговна"), ("Павлович", "Павловна"), ("Петрович", "Петровна"), ("Романович", "Романовна"),
    ("Сергеевич", "Сергеевна"), ("Юрьевич", "Юрьевна"), ("Фёдорович", "Фёдоровна"), ("Ильич", "Ильинична"),
)
COMPANY_FORMS = ("ООО", "ООО", "ООО", "АО", "ПАО", "ИП", "ЗАО", "ГК", "ТД")
COMPANY_WORDS = (
    "Альфа", "Вектор", "Гарант", "Меридиан", "Север", "Восток", "Прогресс", "Стройинвест", "ТехноСервис",
    "Логистик", "Агро", "Импульс", "Континент", "Ресурс", "Регион", "Энерго", "Медтех", "Профи", "Строймаш",
    "Инжиниринг", "Транзит", "Сибирь", "Урал", "Волга", "Балтика", "Домострой", "Монолит", "Оптима", "Лидер",
    "Партнёр", "Капитал", "Эталон", "Горизонт", "Атлант", "Феникс", "Сфера", "Спектр", "Квант", "Полюс",
)
COMPANY_SUFFIXES = ("", "", "", "-М", " Плюс", " Групп", " 2000", "-Центр", " Трейд", " Снаб", "-Юг", " НН")
#: Area codes of city lines (Moscow, St Petersburg, Yekaterinburg, Novosibirsk, Samara, Krasnodar, ...).
CITY_CODES = ("495", "499", "812", "343", "383", "846", "861", "863", "843", "831", "351", "473")
LABELS = ("моб.", "раб.", "дом.", "mobile", "work", None, None, None)
#: The team: CRM user ids ``get_users`` returns, and their PBX extensions.
TEAM = [(str(i), f"90{i:02d}") for i in range(1, 26)]
STATUS_NAMES = ("В работе", "Перерыв", "Обед", "Обучение", "Не беспокоить", "Доступен")


@dataclass
class Contact:
    name: str
    company: str | None
    owner: str | None
    email: str | None
    phones: list[tuple[str, str, str | None]] = field(default_factory=list)  # (key, raw, label)


@dataclass
class Dataset:
    contacts: list[Contact]
    companies: dict[str, str | None]      # name -> owner
    known_keys: list[str]                  # every distinct key in the directory

    @property
    def phone_count(self) -> int:
        return sum(len(c.phones) for c in self.contacts)


def _person(rng: random.Random) -> str:
    male = rng.random() < 0.5
    first = rng.choice(MALE_FIRST if male else FEMALE_FIRST)
    surname = rng.choice(SURNAMES)[0 if male else 1]
    patronymic = rng.choice(PATRONYMICS)[0 if male else 1]
    shape = rng.random()
    if shape < 0.55:
        return f"{surname} {first} {patronymic}"
    if shape < 0.8:
        return f"{first} {surname}"
    if shape < 0.95:
        return f"{surname} {first[0]}.{patronymic[0]}."
    return f"{first} {patronymic} {surname}"


def _company(rng: random.Random) -> str:
    form = rng.choice(COMPANY_FORMS)
    if form == "ИП":
        return f"ИП {rng.choice(SURNAMES)[0]} {rng.choice(MALE_FIRST)[0]}.{rng.choice(PATRONYMICS)[0][0]}."
    return f"{form} «{rng.choice(COMPANY_WORDS)}{rng.choice(COMPANY_SUFFIXES)}»"


def _national(rng: random.Random) -> str:
    """Ten national digits: a mobile (9xx) most of the time, else a city line."""
    if rng.random() < 0.7:
        return f"9{rng.randrange(10, 100)}{rng.randrange(10_000_000):07d}"
    return f"{rng.choice(CITY_CODES)}{rng.randrange(1_000_000, 10_000_000):07d}"


def spell(national: str, rng: random.Random) -> str:
    """One of the ways people write a Russian number: ``+7 (916) 123-45-67``, ``89161234567``, ..."""
    a, b, c, d = national[:3], national[3:6], national[6:8], national[8:]
    shapes = (f"+7 ({a}) {b}-{c}-{d}", f"8{national}", f"+7{national}", f"8 ({a}) {b}-{c}-{d}",
              f"8-{a}-{b}-{c}-{d}", f"7{national}", f"+7 {a} {b} {c} {d}", f"8 {a} {b}{c}{d}")
    return shapes[rng.randrange(len(shapes))]


def make_dataset(count: int, seed: int = 20240) -> Dataset:
    """``count`` contacts with 1-3 numbers each (≈1.5 on average), a third in one of ~count/20 companies."""
    rng = random.Random(seed)
    used: set[str] = set()

    def fresh() -> str:
        while True:
            national = _national(rng)
            if national not in used:
                used.add(national)
                return national

    companies: dict[str, str | None] = {}
    company_lines: dict[str, str] = {}
    names = []
    while len(names) < max(1, count // 20):
        name = _company(rng)
        if name not in companies:
            names.append(name)
            companies[name] = rng.choice(TEAM)[0] if rng.random() < 0.6 else None
            company_lines[name] = fresh()
    contacts: list[Contact] = []
    for _ in range(count):
        company = rng.choice(names) if rng.random() < 0.33 else None
        owner = None
        if rng.random() < 0.45:
            owner = rng.choice(TEAM)[0] if rng.random() < 0.7 else rng.choice(TEAM)[1]
        contact = Contact(_person(rng), company, owner, None)
        if rng.random() < 0.2:
            contact.email = f"client{len(contacts)}@example.ru"
        n = rng.choices((1, 2, 3), (0.58, 0.32, 0.10))[0]
        nationals = [fresh() for _ in range(n)]
        if company and rng.random() < 0.08:  # the company's switchboard, shared by its people
            nationals[-1] = company_lines[company]
        for national in nationals:
            contact.phones.append(("7" + national, spell(national, rng), rng.choice(LABELS)))
        contacts.append(contact)
    known = sorted({key for c in contacts for key, _, _ in c.phones})
    return Dataset(contacts, companies, known)


def unknown_keys(dataset: Dataset, count: int, seed: int = 7) -> list[str]:
    """Valid-looking numbers that no contact has."""
    rng = random.Random(seed)
    known = set(dataset.known_keys)
    out: list[str] = []
    while len(out) < count:
        key = "7" + _national(rng)
        if key not in known:
            out.append(key)
    return out


def load_into_store(dataset: Dataset, database: Path, batch: int = 5000) -> None:
    """Write the dataset through the store API: ``session.contacts.save`` in batches of ``batch``."""
    from app.storage import ContactRecord, PhoneRecord, SqliteStore

    store = SqliteStore(database)
    try:
        def companies(session: Any) -> dict[str, int]:
            return {name: session.contacts.company_id(name, owner) for name, owner in dataset.companies.items()}

        company_ids = store.write_sync(companies)
        for start in range(0, len(dataset.contacts), batch):
            chunk = dataset.contacts[start:start + batch]

            def save(session: Any, chunk: list[Contact] = chunk) -> None:
                for c in chunk:
                    session.contacts.save(ContactRecord(
                        id=None, name=c.name, company_id=company_ids[c.company] if c.company else None,
                        owner_id=c.owner, email=c.email,
                        phones=[PhoneRecord(key, raw, label) for key, raw, label in c.phones],
                    ))

            store.write_sync(save)
    finally:
        store.close()


CSV_HEADER = ("ФИО", "Телефон", "Телефон", "Компания", "Ответственный", "Почта", "Должность")
POSITIONS = ("", "", "Директор", "Менеджер", "Бухгалтер", "Снабженец", "Главный инженер", "Секретарь")


def write_csv(dataset: Dataset, path: Path, seed: int = 5) -> None:
    """The dataset as a Russian CRM export looks in Excel: ``;``-separated UTF-8 with a BOM, two
    phone columns, some cells holding two labelled numbers (``моб.: +7 ...; раб.: 8 ...``)."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(CSV_HEADER)
        for c in dataset.contacts:
            spelled = [f"{label}: {raw}" if label and rng.random() < 0.5 else raw for _, raw, label in c.phones]
            if len(spelled) == 1:
                cells = [spelled[0], ""]
            elif len(spelled) == 2:
                cells = spelled if rng.random() < 0.5 else ["; ".join(spelled), ""]
            else:
                cells = ["; ".join(spelled[:2]), spelled[2]]
            writer.writerow((c.name, cells[0], cells[1], c.company or "", c.owner or "", c.email or "",
                             rng.choice(POSITIONS)))


# -- PBX events ------------------------------------------------------------------------------

def event_stream(count: int, client_keys: list[str], seed: int, prefix: str | None = None,
                 concurrent_calls: int = 40, agent_share: float = 0.05) -> Iterator[dict[str, Any]]:
    """``count`` unique event envelopes as a busy PBX sends them.

    ``concurrent_calls`` calls are in progress at once and their events interleave; each call
    goes ringing → answer (80 %) → hangup → cdr_append, and about ``agent_share`` of the events
    are agent status changes. Every event has its own ``action_id`` (no redeliveries here).
    """
    rng = random.Random(seed)
    prefix = prefix or uuid.uuid4().hex[:10]
    serial = 0

    def new_call() -> dict[str, Any]:
        nonlocal serial
        serial += 1
        crm_user, ext = rng.choice(TEAM)
        client = rng.choice(client_keys) if rng.random() < 0.75 else "7" + _national(rng)
        direction = 0 if rng.random() < 0.7 else 1
        steps = ["call_ringing"] + (["call_answer"] if rng.random() < 0.8 else []) + ["call_hangup", "cdr_append"]
        return {"id": f"{prefix}-{serial}", "crm_user": crm_user, "ext": ext, "client": "+" + client,
                "direction": direction, "gateway": f"7495{rng.randrange(1_000_000, 10_000_000)}",
                "steps": steps, "answered": "call_answer" in steps}

    calls = [new_call() for _ in range(concurrent_calls)]
    for n in range(count):
        action_id = f"{prefix}-ev-{n}"
        if rng.random() < agent_share:
            crm_user, ext = rng.choice(TEAM)
            yield _message("agent_change", action_id, {
                "user_uid": ext, "crm_user": crm_user, "base_status": rng.choice((-1, -1, -2, -3, -4)),
                "extra_status": rng.randrange(0, 5), "status_name": rng.choice(STATUS_NAMES),
            })
            continue
        slot = rng.randrange(len(calls))
        call = calls[slot]
        action = call["steps"].pop(0)
        if not call["steps"]:
            calls[slot] = new_call()
        if action == "cdr_append":
            incoming = call["direction"] == 0
            talk = rng.randrange(5, 600) if call["answered"] else 0
            yield _message(action, action_id, {
                "id": rng.randrange(1, 10**9), "uniqueid": call["id"], "dt": 1_700_000_000.0 + serial,
                "src": call["client"] if incoming else call["ext"], "dst": call["ext"] if incoming else call["client"],
                "duration": talk + rng.randrange(3, 30), "billsec": talk, "cc_queue_waiting_time": 0,
                "lastapp": "bridge", "lastdata": "", "rec_path": "office/2024-01-01/", "gateway": "Trunk1",
                "gateway_number": "+" + call["gateway"], "dial_status": 0 if talk else 3,
                "direction": call["direction"], "project_id": 0, "project_name": "",
                "bridge_hangup_cause": "NORMAL_CLEARING", "hold_accum_seconds": 0, "geo_ids": "...",
                "geo_names": "...", "link": f"https://pbx.example.com/get_file?file=tok{uuid.UUID(int=rng.getrandbits(128)).hex}",
            })
            continue
        rt_vars: dict[str, Any] = {"gateway_number": call["gateway"]}
        body: dict[str, Any] = {
            "call_id": call["id"], "session_id": f"s-{call['id']}", "crm_user": call["crm_user"],
            "domain_user": call["ext"], "other_leg": call["client"], "rt_vars": rt_vars,
            "direction": call["direction"],
        }
        if action == "call_hangup":
            rt_vars["hangup_cause"] = "NORMAL_CLEARING" if call["answered"] else "NO_ANSWER"
            body["variable_answersec"] = str(rng.randrange(5, 600)) if call["answered"] else ""
        yield _message(action, action_id, body)


def _message(action: str, action_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"action": action, "obj": "UserCRM", "action_id": action_id, "code": 200, "notifies": [], "body": body}


def write_events(path: Path, events: Iterator[dict[str, Any]]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as out:
        for message in events:
            out.write(json.dumps(message, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            n += 1
    return n
