"""Costs no platform reports, entered in the admin or uploaded as CSV: checked row by row, all or nothing."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from spend.costs import CostsRefused, costs_from_csv
from spend.models import OtherCost
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
URL = "/admin/spend/othercost/upload/"


def signed_in(role):
    client = Client()
    client.force_login(UserFactory.create(role=role))
    return client


def upload(client, text):
    return client.post(URL, {"file": SimpleUploadedFile("costs.csv", text.encode(), content_type="text/csv")})


def test_a_good_file_is_stored_in_minor_units():
    text = (
        "\ufeffDate,Source,Campaign,Amount,Currency,Description\n"
        "2026-11-03,newsletter,black-friday,250.00,usd,Sponsored issue\n"
        '2026-11-04,Influencer,,"1,200",JPY,\n'
    )
    response = upload(signed_in("marketer"), text)
    assert response.status_code == 302
    assert sorted(OtherCost.objects.values_list("day", "source", "campaign", "amount_minor", "currency")) == [
        (dt.date(2026, 11, 3), "newsletter", "black-friday", 25000, "USD"),
        (dt.date(2026, 11, 4), "Influencer", "", 1200, "JPY"),
    ]


def test_a_file_with_bad_rows_stores_nothing_and_names_each_problem():
    text = (
        "date,source,campaign,amount,currency\n"
        "2026-11-03,newsletter,,10.00,USD\n"
        "03/11/2026,,x,-5,US\n"
        "2026-11-05,print,,1.005,USD\n"
    )
    response = upload(signed_in("marketer"), text)
    assert response.status_code == 400
    page = response.content.decode()
    for problem in (
        "row 3: date &#x27;03/11/2026&#x27; is not a day as YYYY-MM-DD",
        "row 3: source is empty",
        "row 3: currency &#x27;US&#x27; is not an ISO 4217 code",
        "row 3: amount &#x27;-5&#x27; is not a number of at least 0",
        "row 4: amount 1.005 has more decimals than USD takes (2)",
    ):
        assert problem in page
    assert not OtherCost.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"day,source,amount\n2026-11-03,x,1\n", "The header row lacks date, campaign, currency"),
        (b"date,source,campaign,amount,currency\n", "no rows"),
        ("date,source,campaign,amount,currency\n".encode("utf-16"), "not UTF-8"),
        (b"x" * (1024 * 1024 + 1), "larger than 1024 KB"),
    ],
)
def test_unreadable_files_are_refused_with_the_fix(data, message):
    with pytest.raises(CostsRefused, match=message):
        costs_from_csv(data)


def test_the_form_takes_amounts_in_units_and_sales_cannot_upload():
    marketer = signed_in("marketer")
    response = marketer.post(
        "/admin/spend/othercost/add/",
        {"day": "2026-11-03", "source": "podcast", "campaign": "", "amount": "99.5", "currency": "EUR"},
    )
    assert response.status_code == 302
    assert OtherCost.objects.get().amount_minor == 9950
    refused = marketer.post(
        "/admin/spend/othercost/add/",
        {"day": "2026-11-03", "source": "podcast", "campaign": "", "amount": "9.999", "currency": "EUR"},
    )
    assert "EUR takes at most 2 decimal places" in refused.content.decode()
    assert "Upload CSV" in marketer.get("/admin/spend/othercost/").content.decode()
    assert upload(signed_in("sales"), "date,source,campaign,amount,currency\n").status_code == 403
