"""`knowledgeArticles`: languages and fallback, full-text search (ranking, stemming, snippets)
on SQLite FTS5 and PostgreSQL, drafts, and who may read."""

from __future__ import annotations

from typing import Any

from tests.conftest import StatementCounter
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.knowledge.conftest import create_article

AGENT = "agent@vendor.example"
KNOWLEDGE_USER = "kb@acme.example"  # language en
STOCK_MANAGER = "stock@acme.example"  # language it
ADMIN = "admin@acme.example"

QUERY_ARTICLES = """
query Articles($search: String, $language: String, $category: String, $productModelId: ID,
               $first: Int, $after: String) {
  knowledgeArticles(search: $search, language: $language, category: $category,
                    productModelId: $productModelId, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id slug published servedLanguage title snippet score
            productModel { name } translations { language } }
  }
}
"""

QUERY_ARTICLE_NODE = """
query Node($id: ID!) { node(id: $id) { ... on KnowledgeArticle { slug servedLanguage title } } }
"""


async def _articles(
    gql: GraphQLClient,
    user: str = KNOWLEDGE_USER,
    headers: dict[str, str] | None = None,
    **variables: Any,
) -> list[dict[str, Any]]:
    result = await gql(QUERY_ARTICLES, {"first": 50, **variables}, as_user=user, headers=headers)
    assert not result.errors, result.errors
    return result.data["knowledgeArticles"]["nodes"]  # type: ignore[no-any-return]


async def test_every_role_reads_the_published_articles(gql: GraphQLClient) -> None:
    for user in (KNOWLEDGE_USER, ADMIN, STOCK_MANAGER, "devices@acme.example", AGENT):
        # when
        articles = await _articles(gql, user)
        # then
        assert len(articles) == 6, user
        assert all(a["published"] for a in articles)


async def test_language_argument_header_and_user_language(gql: GraphQLClient) -> None:
    # when
    english = await _articles(gql, KNOWLEDGE_USER)
    french = await _articles(gql, KNOWLEDGE_USER, language="fr")
    italian_header = await _articles(gql, KNOWLEDGE_USER, headers={"Accept-Language": "it-CH"})
    italian_user = await _articles(gql, STOCK_MANAGER)
    argument_wins = await _articles(
        gql, STOCK_MANAGER, headers={"Accept-Language": "it"}, language="fr"
    )
    # then
    assert {a["servedLanguage"] for a in english} == {"en"}
    assert {a["servedLanguage"] for a in french} == {"fr"}
    assert "Comment résoudre un bourrage papier" in {a["title"] for a in french}
    assert {a["servedLanguage"] for a in italian_header} == {"it"}
    assert {a["servedLanguage"] for a in italian_user} == {"it"}
    assert {a["servedLanguage"] for a in argument_wins} == {"fr"}


async def test_missing_translation_falls_back_to_english(gql: GraphQLClient) -> None:
    # given: an article written only in English
    await create_article(
        gql,
        "printer-offline",
        {"en": ("Printer shows offline", "Check the network cable and restart the printer.")},
        publish=True,
    )
    # when
    french = await _articles(gql, KNOWLEDGE_USER, language="fr")
    unknown = await _articles(gql, KNOWLEDGE_USER, language="de")
    # then
    served = {a["slug"]: a["servedLanguage"] for a in french}
    assert served["printer-offline"] == "en"
    assert served["clear-paper-jam"] == "fr"
    assert {a["servedLanguage"] for a in unknown} == {"en"}


async def test_search_ranks_the_best_match_first(gql: GraphQLClient) -> None:
    # given: a second article that mentions a paper jam only in passing
    await create_article(
        gql,
        "duplex-unit-noise",
        {
            "en": (
                "Duplex unit makes a noise",
                "A clicking duplex unit is usually harmless. Rarely it announces a paper jam.",
            )
        },
        publish=True,
    )
    # when
    found = await _articles(gql, KNOWLEDGE_USER, search="paper jam", language="en")
    # then
    assert [a["slug"] for a in found] == ["clear-paper-jam", "duplex-unit-noise"]
    assert found[0]["score"] > found[1]["score"] > 0
    assert "<mark>" in found[0]["snippet"]


async def test_french_search_stems_plurals(gql: GraphQLClient) -> None:
    # when
    found = await _articles(gql, KNOWLEDGE_USER, search="bourrages", language="fr")
    phrase = await _articles(gql, KNOWLEDGE_USER, search="bourrage papier", language="fr")
    # then
    assert [a["slug"] for a in found] == ["clear-paper-jam"]
    assert found[0]["servedLanguage"] == "fr"
    assert "<mark>" in found[0]["snippet"] and "ourrage" in found[0]["snippet"]
    assert phrase[0]["slug"] == "clear-paper-jam"


async def test_italian_search_stems_plurals(gql: GraphQLClient) -> None:
    # when
    found = await _articles(gql, STOCK_MANAGER, search="inceppamenti")
    phrase = await _articles(gql, STOCK_MANAGER, search="inceppamento carta")
    # then
    assert [a["slug"] for a in found] == ["clear-paper-jam"]
    assert found[0]["servedLanguage"] == "it"
    assert "<mark>" in found[0]["snippet"]
    assert phrase[0]["slug"] == "clear-paper-jam"


async def test_search_in_one_language_does_not_match_another(gql: GraphQLClient) -> None:
    # when
    found = await _articles(gql, KNOWLEDGE_USER, search="bourrage", language="en")
    # then
    assert found == []


async def test_search_covers_english_fallbacks(gql: GraphQLClient) -> None:
    # given
    await create_article(
        gql,
        "fuser-error",
        {"en": ("Fuser error codes", "A fuser error needs a technician: open a ticket.")},
        publish=True,
    )
    # when
    found = await _articles(gql, KNOWLEDGE_USER, search="fuser", language="fr")
    # then
    assert [(a["slug"], a["servedLanguage"]) for a in found] == [("fuser-error", "en")]


async def test_drafts_are_for_knowledge_managers_only(gql: GraphQLClient) -> None:
    # given
    draft = await create_article(
        gql, "draft-article", {"en": ("Unfinished", "Work in progress about toner.")}, publish=False
    )
    # when
    as_agent = await _articles(gql, AGENT)
    as_reader = await _articles(gql, KNOWLEDGE_USER)
    searched = await _articles(gql, KNOWLEDGE_USER, search="unfinished progress")
    node = await gql(QUERY_ARTICLE_NODE, {"id": draft}, as_user=KNOWLEDGE_USER)
    # then
    assert {"slug": "draft-article", "published": False} in [
        {"slug": a["slug"], "published": a["published"]} for a in as_agent
    ]
    assert "draft-article" not in {a["slug"] for a in as_reader}
    assert searched == []
    assert node.data["node"] is None


async def test_article_node_is_served_in_the_header_language(gql: GraphQLClient) -> None:
    # given
    [article] = [a for a in await _articles(gql) if a["slug"] == "clear-paper-jam"]
    # when
    result = await gql(
        QUERY_ARTICLE_NODE,
        {"id": article["id"]},
        as_user=KNOWLEDGE_USER,
        headers={"Accept-Language": "fr"},
    )
    # then
    assert result.data["node"] == {
        "slug": "clear-paper-jam",
        "servedLanguage": "fr",
        "title": "Comment résoudre un bourrage papier",
    }


async def test_filters_and_pages(gql: GraphQLClient) -> None:
    # when
    troubleshooting = await _articles(gql, category="troubleshooting")
    model = troubleshooting[0]["productModel"] or troubleshooting[1]["productModel"]
    first = await gql(QUERY_ARTICLES, {"first": 4}, as_user=KNOWLEDGE_USER)
    page = first.data["knowledgeArticles"]
    second = await gql(
        QUERY_ARTICLES,
        {"first": 4, "after": page["pageInfo"]["endCursor"]},
        as_user=KNOWLEDGE_USER,
    )
    # then
    assert {a["slug"] for a in troubleshooting} == {"clear-paper-jam", "scan-to-email-setup"}
    assert model == {"name": "Lumen C450"}
    assert page["totalCount"] == 6 and page["pageInfo"]["hasNextPage"]
    rest = second.data["knowledgeArticles"]
    assert len(rest["nodes"]) == 2 and not rest["pageInfo"]["hasNextPage"]
    assert not {a["id"] for a in page["nodes"]} & {a["id"] for a in rest["nodes"]}


async def test_list_costs_a_fixed_number_of_statements(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql.token_for(KNOWLEDGE_USER)
    statements.reset()
    # when
    result = await gql(QUERY_ARTICLES, {"first": 50, "search": "the"}, as_user=KNOWLEDGE_USER)
    # then: scope, page, count, translations, product models
    assert not result.errors, result.errors
    assert statements.count <= 7, statements.statements


async def test_knowledge_articles_require_permission(
    gql: GraphQLClient, emaintenance_token: str
) -> None:
    # when
    as_machine = await gql(QUERY_ARTICLES, {}, token=emaintenance_token)
    anonymous = await gql(QUERY_ARTICLES, {})
    # then: the e-Maintenance client holds READ_KNOWLEDGE nowhere: not in its schema; an
    # anonymous caller is told to sign in, before anything runs
    assert as_machine.data is None
    assert as_machine.error_codes == NOT_IN_SCHEMA, as_machine.errors
    assert anonymous.data is None
    assert anonymous.error_codes == ["UNAUTHENTICATED"]
    assert "path" not in anonymous.errors[0]


async def test_search_syntax_is_taken_literally(gql: GraphQLClient) -> None:
    for search in ('"paper', "jam OR (", "*", "NEAR(paper jam)", "'; drop table x; --", "!!!"):
        # when
        result = await gql(QUERY_ARTICLES, {"search": search, "first": 5}, as_user=KNOWLEDGE_USER)
        # then
        assert not result.errors, (search, result.errors)
    found = await _articles(gql, KNOWLEDGE_USER, search='"paper jam', language="en")
    assert found[0]["slug"] == "clear-paper-jam"


async def test_search_without_language_finds_the_language_the_words_are_written_in(
    gql: GraphQLClient,
) -> None:
    # given: an English-speaking reader (profile en), no `language`, no Accept-Language
    # when: the words are French
    found = await _articles(gql, KNOWLEDGE_USER, search="bourrage papier")
    italian = await _articles(gql, KNOWLEDGE_USER, search="inceppamenti")
    # then: the article comes back in the language that matched, once
    assert [(a["slug"], a["servedLanguage"]) for a in found] == [("clear-paper-jam", "fr")]
    assert "<mark>" in found[0]["snippet"] and found[0]["score"] > 0
    assert [(a["slug"], a["servedLanguage"]) for a in italian] == [("clear-paper-jam", "it")]


async def test_search_without_language_ranks_the_readers_language_first(
    gql: GraphQLClient,
) -> None:
    # given: "scanner" in both languages of one article, and many times in an English-only one
    await create_article(
        gql,
        "scanner-streaks",
        {
            "en": ("Streaks from the scanner", "Clean the scanner glass with a soft cloth."),
            "fr": ("Traits au scanner", "Nettoyez la vitre du scanner avec un chiffon doux."),
        },
        publish=True,
    )
    await create_article(
        gql,
        "scanner-calibration",
        {"en": ("Scanner calibration", "Calibrate the scanner: scanner menu, scanner test.")},
        publish=True,
    )
    # when
    french_reader = await _articles(gql, "devices@acme.example", search="scanner")
    header_reader = await _articles(
        gql, KNOWLEDGE_USER, headers={"Accept-Language": "fr"}, search="scanner"
    )
    english_reader = await _articles(gql, KNOWLEDGE_USER, search="scanner")
    # then: matches in the reader's language first, each article once
    expected_fr = [("scanner-streaks", "fr"), ("scanner-calibration", "en")]
    assert [(a["slug"], a["servedLanguage"]) for a in french_reader] == expected_fr
    assert [(a["slug"], a["servedLanguage"]) for a in header_reader] == expected_fr
    assert sorted((a["slug"], a["servedLanguage"]) for a in english_reader) == [
        ("scanner-calibration", "en"),
        ("scanner-streaks", "en"),
    ]
    scores = [a["score"] for a in english_reader]
    assert scores == sorted(scores, reverse=True)


async def test_search_with_a_language_searches_that_language(gql: GraphQLClient) -> None:
    # when
    french = await _articles(gql, KNOWLEDGE_USER, search="bourrage papier", language="fr")
    english = await _articles(gql, KNOWLEDGE_USER, search="bourrage papier", language="en")
    italian = await _articles(gql, KNOWLEDGE_USER, search="paper jam", language="it")
    # then
    assert [(a["slug"], a["servedLanguage"]) for a in french] == [("clear-paper-jam", "fr")]
    assert english == []
    assert italian == []
