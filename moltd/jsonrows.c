/*
 * jsonrows.c - database rows as the management API's JSON: arrays of objects
 * keyed by column names, a listing answered whole, and small field helpers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moltd.h"

/* Rows of a query as an array of objects keyed by names[] (NULL cells -> null;
 * names starting with '#' are numbers). */
json_t *rows_json(const db_rows_t *rows, const char *const *names)
{
    json_t *a = json_array();
    for (size_t i = 0; i < rows->nrows; i++) {
        json_t *o = json_object();
        for (size_t c = 0; c < rows->ncols; c++) {
            const char *v = db_cell(rows, i, c), *n = names[c];
            bool num = n[0] == '#';
            json_object_set_new(o, num ? n + 1 : n,
                                !v ? json_null() : num ? json_integer(strtoll(v, NULL, 10)) : json_string(v));
        }
        json_array_append_new(a, o);
    }
    return a;
}

json_t *row_json(const db_rows_t *rows, const char *const *names, size_t i)
{
    json_t *a = rows_json(rows, names);
    json_t *o = json_incref(json_array_get(a, i));
    json_decref(a);
    return o ? o : json_null();
}

int rows_list(req_t *r, const char *sql, const char *const *names, const char *p1)
{
    db_rows_t rows;
    srv_lock(r->srv);
    db_status_t st = p1 ? Q(r->srv, &rows, sql, p1) : Q0(r->srv, &rows, sql);
    srv_unlock(r->srv);
    if (st != DB_OK)
        return http_db_error(r);
    json_t *a = rows_json(&rows, names);
    db_rows_free(&rows);
    return http_json(r, 200, a);
}

const char *str_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

void now_str(char *out, size_t cap)
{
    snprintf(out, cap, "%lld", (long long)now_ms());
}
