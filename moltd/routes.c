/*
 * routes.c - every URL of moltd in one place: which handler serves a method and
 * path, and the role it needs. The handlers live in one file per resource.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "moltd.h"
#include "ui.h"

bool route_is_mgmt(const req_t *r)
{
    return r->nseg >= 2 && strcmp(r->seg[0], "api") == 0 && strcmp(r->seg[1], "v1") == 0;
}

bool route_is_ddi(const req_t *r)
{
    return r->nseg >= 4 && strcmp(r->seg[1], "controller") == 0 && strcmp(r->seg[2], "v1") == 0;
}

/* A complete request (headers and body) to its API. */
int route_request(req_t *r)
{
    if (route_is_mgmt(r))
        return views_match(r) ? views_dispatch(r) : mgmt_dispatch(r);
    if (route_is_ddi(r))
        return ddi_dispatch(r);
    if (ui_match(r))
        return ui_dispatch(r);
    return http_error(r, 404, "no such resource");
}

/* From the headers alone, before any body byte is read or stored: the role a
 * change needs, and for a package upload its parameters (packages.c). A refusal
 * is answered here; the body is then never read. */
int mgmt_precheck(req_t *r, bool *refused)
{
    *refused = true;
    int ret = MHD_YES;
    const char *what = r->nseg >= 3 ? r->seg[2] : "";
    bool post = strcmp(r->method, "POST") == 0, del = strcmp(r->method, "DELETE") == 0;
    bool admin_only = strcmp(what, "tokens") == 0 || strcmp(what, "signers") == 0 || strcmp(what, "classes") == 0;
    if ((post || del) && !need_role(r, admin_only ? ROLE_ADMIN : ROLE_OPERATOR, &ret))
        return ret;
    if (r->to_file && packages_precheck(r, &ret))
        return ret;
    *refused = false;
    return MHD_YES;
}

/* --- the management API: /api/v1/{what}[/{id}[/{op}]] --------------------------- */

/* A route function answers, or returns NOT_HERE when the method is not allowed
 * on the path (405). */
#define NOT_HERE (-1)

typedef struct route {
    const char *method, *what, *id;
    bool get, post;
} route_t;

/* tokens, signers, classes: admin to change; to read, admin for tokens, viewer for the others. */
static int route_admin(req_t *r, const route_t *t)
{
    int ret = 0;
    if (strcmp(t->what, "tokens") == 0 && r->nseg == 4)
        return strcmp(t->method, "DELETE") != 0        ? NOT_HERE
               : need_role(r, ROLE_ADMIN, &ret) ? tokens_revoke(r, t->id)
                                                : ret;
    role_t read = strcmp(t->what, "tokens") == 0 ? ROLE_ADMIN : ROLE_VIEWER;
    if (t->post)
        return !need_role(r, ROLE_ADMIN, &ret)      ? ret
               : strcmp(t->what, "tokens") == 0  ? tokens_create(r)
               : strcmp(t->what, "signers") == 0 ? signers_create(r)
                                                 : classes_create(r);
    if (t->get)
        return !need_role(r, read, &ret)            ? ret
               : strcmp(t->what, "tokens") == 0  ? tokens_list(r)
               : strcmp(t->what, "signers") == 0 ? signers_list(r)
                                                 : classes_list(r);
    return NOT_HERE;
}

static int route_packages(req_t *r, const route_t *t)
{
    int ret = 0;
    if (t->get && t->id && !num_id(t->id))
        return need_role(r, ROLE_VIEWER, &ret) ? http_error(r, 404, "no package %.40s", t->id) : ret;
    if (t->post && !t->id)
        return need_role(r, ROLE_OPERATOR, &ret) ? packages_upload(r) : ret;
    if (t->get)
        return need_role(r, ROLE_VIEWER, &ret) ? packages_get(r, t->id) : ret;
    return NOT_HERE;
}

static int route_devices(req_t *r, const route_t *t)
{
    int ret = 0;
    if (t->post && !t->id)
        return need_role(r, ROLE_OPERATOR, &ret) ? devices_create(r) : ret;
    if (t->get && t->id && !valid_name(t->id, 64))
        return need_role(r, ROLE_VIEWER, &ret) ? http_error(r, 404, "no device %s", "(malformed id)") : ret;
    if (t->get)
        return need_role(r, ROLE_VIEWER, &ret) ? devices_get(r, t->id) : ret;
    return NOT_HERE;
}

static int route_campaigns(req_t *r, const route_t *t)
{
    int ret = 0;
    const char *op = r->nseg == 5 ? r->seg[4] : NULL;
    if (t->id && !num_id(t->id) && (t->get || t->post))
        return need_role(r, ROLE_VIEWER, &ret) ? http_error(r, 404, "no campaign %.40s", t->id) : ret;
    if (t->post && r->nseg == 3)
        return need_role(r, ROLE_OPERATOR, &ret) ? campaigns_create(r) : ret;
    if (t->get && r->nseg <= 4)
        return need_role(r, ROLE_VIEWER, &ret) ? campaigns_get(r, t->id) : ret;
    if (t->post && op && (strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0 || strcmp(op, "cancel") == 0))
        return need_role(r, ROLE_OPERATOR, &ret) ? campaigns_control(r, t->id, op) : ret;
    if (op)
        return http_error(r, 404, "no such resource");
    return NOT_HERE;
}

int mgmt_dispatch(req_t *r)
{
    int ret = 0;
    route_t t = {r->method, r->nseg >= 3 ? r->seg[2] : "", r->nseg >= 4 ? r->seg[3] : NULL,
                 strcmp(r->method, "GET") == 0, strcmp(r->method, "POST") == 0};
    if (r->nseg < 3 || r->nseg > 5)
        return http_error(r, 404, "no such resource");
    if (ticket_mgmt_match(r)) /* ticket key, ticket policies, quarantine (ticket.c) */
        return ticket_mgmt_dispatch(r);
    if (rotation_match(r)) /* rotation keys of a class (rotation.c) */
        return rotation_dispatch(r);
    bool admin = strcmp(t.what, "signers") == 0 || strcmp(t.what, "classes") == 0;
    if (strcmp(t.what, "tokens") == 0 && (r->nseg == 3 || r->nseg == 4))
        ret = route_admin(r, &t);
    else if (admin && r->nseg == 3)
        ret = route_admin(r, &t);
    else if (strcmp(t.what, "packages") == 0 && r->nseg <= 4)
        ret = route_packages(r, &t);
    else if (strcmp(t.what, "devices") == 0 && r->nseg <= 4)
        ret = route_devices(r, &t);
    else if (strcmp(t.what, "campaigns") == 0)
        ret = route_campaigns(r, &t);
    else if (strcmp(t.what, "audit") == 0 && r->nseg == 3)
        ret = t.get ? (need_role(r, ROLE_VIEWER, &ret) ? audit_get(r) : ret) : NOT_HERE;
    else
        return http_error(r, 404, "no such resource");
    return ret == NOT_HERE ? http_error(r, 405, "method %s not allowed here", r->method) : ret;
}

/* --- the device API: /{tenant}/controller/v1/{controllerId}/... (ddi.c) -------- */
int ddi_dispatch(req_t *r)
{
    const char *m = r->method;
    bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0, put = strcmp(m, "PUT") == 0,
         head = strcmp(m, "HEAD") == 0; /* libmicrohttpd sends the headers of the GET answer, no body */
    int n = r->nseg - 4; /* segments under the controller base */
    const char *s1 = n >= 1 ? r->seg[4] : "", *s2 = n >= 2 ? r->seg[5] : NULL, *s3 = n >= 3 ? r->seg[6] : NULL;
    if (n == 0)
        return get ? ddi_poll_base(r) : http_error(r, 405, "method %s not allowed here", m);
    bool num = s2 && strspn(s2, "0123456789") == strlen(s2) && strlen(s2) < 19;
    if (strcmp(s1, "deploymentBase") == 0 && num && n == 2)
        return get ? ddi_deployment_base(r, s2) : http_error(r, 405, "method %s not allowed here", m);
    if (strcmp(s1, "deploymentBase") == 0 && num && n == 3 && strcmp(s3, "feedback") == 0)
        return post ? ddi_deployment_feedback(r, s2) : http_error(r, 405, "method %s not allowed here", m);
    if (strcmp(s1, "cancelAction") == 0 && num && n == 2)
        return get ? ddi_cancel_action(r, s2, false) : http_error(r, 405, "method %s not allowed here", m);
    if (strcmp(s1, "cancelAction") == 0 && num && n == 3 && strcmp(s3, "feedback") == 0)
        return post ? ddi_cancel_action(r, s2, true) : http_error(r, 405, "method %s not allowed here", m);
    if (strcmp(s1, "configData") == 0 && n == 1)
        return put ? ddi_config_data(r) : http_error(r, 405, "method %s not allowed here", m);
    if (strcmp(s1, "softwaremodules") == 0 && num && n == 4 && strcmp(s3, "artifacts") == 0)
        return get || head ? ddi_download(r, s2, r->seg[7]) : http_error(r, 405, "method %s not allowed here", m);
    if (strcmp(s1, "softwaremodules") == 0 && num && n == 3 && strcmp(s3, "artifacts") == 0)
        return get ? ddi_artifact_list(r, s2) : http_error(r, 405, "method %s not allowed here", m);
    if (strcmp(s1, "installedBase") == 0 && num && n == 2)
        return get ? ddi_installed_base(r, s2) : http_error(r, 405, "method %s not allowed here", m);
    if (strcmp(s1, "installedBase") == 0 && n == 1)
        return put ? ddi_installed_put(r) : http_error(r, 405, "method %s not allowed here", m);
    if (strcmp(s1, "confirmationBase") == 0 && n == 1)
        return get ? ddi_confirmation_root(r) : http_error(r, 405, "method %s not allowed here", m);
    if (strcmp(s1, "confirmationBase") == 0 && num && n == 2)
        return get ? ddi_confirmation_get(r, s2) : http_error(r, 405, "method %s not allowed here", m);
    if (strcmp(s1, "confirmationBase") == 0 && num && n == 3 && strcmp(s3, "feedback") == 0)
        return post ? ddi_confirmation_feedback(r, s2) : http_error(r, 405, "method %s not allowed here", m);
    /* hawkBit's auto-confirm switch: moltd asks the user for every campaign that wants consent */
    if (strcmp(s1, "confirmationBase") == 0)
        return http_error(r, 501, "auto-confirm is not supported: the user confirms each deployment");
    if (strcmp(s1, "molt") == 0 && n == 2 && strcmp(s2, "attestation") == 0)
        return attest_dispatch(r);
    if (strcmp(s1, "molt") == 0 && n == 2 && strcmp(s2, "ticket") == 0)
        return ticket_issue(r);
    if (strcmp(s1, "molt") == 0 && n == 3 && strcmp(s2, "keyEnvelope") == 0 && strspn(s3, "0123456789") == strlen(s3) &&
        strlen(s3) < 19)
        return get ? envelope_get(r, s3) : http_error(r, 405, "method %s not allowed here", m);
    return http_error(r, 404, "no such resource");
}
