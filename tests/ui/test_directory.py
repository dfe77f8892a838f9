"""The client directory window: its model without a widget, then the window on the real engine.

Search by name, company or number through the service API; Open card (button, double-click,
Enter) and New contact tell the shell which card to open; the list follows contacts saved meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.protocol.phones import PhoneNormalizer
from app.storage import ContactRecord, PhoneRecord
from app.ui.directory import DirectoryModel, DirectoryWindow
from tests.support.qtloop import run, settle, wait_until
from tests.ui.test_dialer import add_contact

M = DirectoryModel
pytestmark = pytest.mark.usefixtures("english")


# -- the model ---------------------------------------------------------------------------------


def test_the_model_shows_name_company_and_numbers_without_a_widget(qapp):
    model = DirectoryModel(PhoneNormalizer("RU"))
    assert (model.columnCount(), model.rowCount()) == (3, 0)
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in (M.NAME, M.COMPANY, M.NUMBERS)] == [
        "Name", "Company", "Numbers"]
    model.set_contacts([
        ContactRecord(1, "Ivan <b>x</b>\u202e", company_name="Romashka", phones=[
            PhoneRecord("74951343060", "8 495 134 30 60"), PhoneRecord("79161234567", "+79161234567")]),
        ContactRecord(2, "Anna"),
    ])
    assert model.rowCount() == 2
    assert model.data(model.index(0, M.NAME)) == "Ivan <b>x</b>"  # control and bidi characters dropped
    assert model.data(model.index(0, M.COMPANY)) == "Romashka"
    assert model.data(model.index(0, M.NUMBERS)) == "+7 495 134-30-60, +7 916 123-45-67"
    assert model.data(model.index(1, M.COMPANY)) == "" and model.data(model.index(1, M.NUMBERS)) == ""
    assert model.data(model.index(1, 0), M.ContactRole).id == 2
    assert model.contact_at(5) is None


# -- the window ---------------------------------------------------------------------------------


@pytest.fixture
def window(qloop, ctx) -> Iterator[DirectoryWindow]:
    add_contact(ctx, "Petrov Ivan", "Romashka LLC", "8 (495) 134-30-60")
    add_contact(ctx, "Sidorova Anna", None, "+7 812 123-45-67", "+7 916 000-11-22")
    add_contact(ctx, "Kuznetsov", "Lilac", "+7 903 555-66-77")
    widget = DirectoryWindow(ctx)
    widget.show()
    wait_until(qloop, lambda: widget.model.rowCount() == 3)
    yield widget
    widget.close()
    widget.deleteLater()
    settle(qloop)


def names(window: DirectoryWindow) -> list[str]:
    return [c.name for c in window.model.contacts()]


def search(qloop, window: DirectoryWindow, text: str, expected: list[str]) -> None:
    window.search_edit.setText(text)
    wait_until(qloop, lambda: names(window) == expected)


def test_it_lists_the_directory_and_searches_by_name_company_and_number(qloop, window):
    assert names(window) == ["Kuznetsov", "Petrov Ivan", "Sidorova Anna"]
    assert window.status_label.text() == "3 contacts"
    search(qloop, window, "sidor", ["Sidorova Anna"])
    search(qloop, window, "romashka", ["Petrov Ivan"])  # by company
    search(qloop, window, "8 495 134", ["Petrov Ivan"])  # a partial number, with the trunk prefix
    search(qloop, window, "+79160001122", ["Sidorova Anna"])  # a whole second number
    search(qloop, window, "+7 999 000-00-00", [])
    assert window.status_label.text() == "No contact matches. New contact creates one with this number."


def test_open_card_and_new_contact_say_which_card(qloop, ctx, window):
    opened: list[tuple[int, str]] = []
    created: list[str] = []
    window.open_card_requested.connect(lambda *args: opened.append(args))
    window.create_contact_requested.connect(created.append)
    assert not window.open_card_button.isEnabled()
    search(qloop, window, "Lilac", ["Kuznetsov"])
    kuznetsov = window.model.contact_at(0).id
    QTest.keyClick(window.search_edit, Qt.Key.Key_Return)  # one match: Enter opens it
    assert opened == [(kuznetsov, "+7 903 555-66-77")]
    search(qloop, window, "", ["Kuznetsov", "Petrov Ivan", "Sidorova Anna"])
    view = window.view
    center = view.visualRect(window.model.index(1, M.NAME)).center()
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=center)
    QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=center)
    assert opened[-1] == (window.model.contact_at(1).id, "+7 495 134-30-60")
    assert window.open_card_button.isEnabled()
    window.open_card_button.click()
    assert len(opened) == 3
    window.new_contact_button.click()
    window.search_edit.setText("+7 999 000-00-00")
    window.new_contact_button.click()
    assert created == ["", "+7 999 000-00-00"]


def test_a_contact_saved_elsewhere_shows_up(qloop, ctx, window):
    from app.core.api import ContactDraft

    draft = ContactDraft("Abramova", "Zeta", None, "", "", [PhoneRecord(ctx.normalizer.key("+74950000001"),
                                                                         "+74950000001")])
    run(qloop, ctx.api.contacts.save(draft, contact_id=None))
    wait_until(qloop, lambda: names(window)[:1] == ["Abramova"])
