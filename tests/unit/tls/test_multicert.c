// SPDX-License-Identifier: Apache-2.0
// Unit tests for tls/multicert.c: the ssl_multicert.config parser.
#include "tls/multicert.h"

#include "core/err.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct core_err err;

// setup empties the error collector.
static void setup(void)
{
    core_err_init(&err);
}

TestSuite(tls_multicert, .init = setup);

// parse parses text as "ssl_multicert.config" with fixed certificate and key directories.
static struct tls_multicert *parse(const char *text)
{
    return tls_multicert_parse(text, strlen(text), "ssl_multicert.config", "/etc/certs",
                               "/etc/keys", &err);
}

// has_entry is true when err holds an entry of the given kind at line whose reason contains part.
static bool has_entry(bool warning, int line, const char *part)
{
    for (int i = 0; i < err.kept; i++) {
        const struct core_err_entry *e = &err.entry[i];
        if (e->warning == warning && e->line == line && strstr(e->reason, part) &&
            strcmp(e->file, "ssl_multicert.config") == 0)
            return true;
    }
    return false;
}

// dump_err prints err's entries, to explain a failed assertion.
static void dump_err(void)
{
    char buf[512];
    for (int i = 0; i < err.kept; i++)
        fprintf(stderr, "  %s\n", core_err_format(&err, i, buf, sizeof(buf)));
}

Test(tls_multicert, parses_every_tag)
{
    struct tls_multicert *m =
        parse("dest_ip=1.2.3.4 ssl_cert_name=a.pem ssl_key_name=a.key ssl_ca_name=ca.pem "
              "ssl_ticket_enabled=1 ssl_ticket_number=3 ticket_key_name=tk.bin "
              "ssl_key_dialog=builtin\n"
              "dest_ip=10.0.0.1 action=tunnel\n");
    if (!m)
        dump_err();
    cr_assert_not_null(m);
    cr_assert_eq(m->n, 2);
    cr_assert_str_eq(m->path, "ssl_multicert.config");
    const struct tls_multicert_line *l = &m->lines[0];
    cr_assert_eq(l->line, 1);
    cr_assert(l->has_dest && !l->dest_any && !l->dest_has_port);
    cr_assert_eq(l->dest.ss_family, AF_INET);
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)&l->dest;
    cr_assert_eq(in4->sin_addr.s_addr, inet_addr("1.2.3.4"));
    cr_assert_eq(l->n_certs, 1);
    cr_assert_str_eq(l->cert[0], "/etc/certs/a.pem");
    cr_assert_str_eq(l->key[0], "/etc/keys/a.key");
    cr_assert_str_eq(l->ca[0], "/etc/certs/ca.pem");
    cr_assert_str_eq(l->ticket_key_name, "/etc/certs/tk.bin");
    cr_assert_eq(l->ticket_enabled, 1);
    cr_assert_eq(l->ticket_number, 3);
    cr_assert_not(l->tunnel);
    l = &m->lines[1];
    cr_assert_eq(l->line, 2);
    cr_assert(l->tunnel);
    cr_assert_eq(l->n_certs, 0);
    cr_assert_eq(l->ticket_enabled, -1);
    cr_assert_eq(l->ticket_number, -1);
    cr_assert_eq(err.errors + err.warnings, 0);
    tls_multicert_free(m);
}

Test(tls_multicert, quotes_comments_and_blank_lines)
{
    struct tls_multicert *m = parse("# a comment line\n"
                                    "\n"
                                    "   \t  \n"
                                    "ssl_cert_name=\"my certs/a #1.pem\"   # trailing comment\n"
                                    "SSL_CERT_NAME=b.pem\tssl_key_name=\"b.key\"\r\n");
    cr_assert_not_null(m);
    cr_assert_eq(m->n, 2);
    cr_assert_eq(m->lines[0].line, 4);
    cr_assert_str_eq(m->lines[0].cert[0], "/etc/certs/my certs/a #1.pem");
    cr_assert_null(m->lines[0].key[0]);
    cr_assert_not(m->lines[0].has_dest);
    cr_assert_eq(m->lines[1].line, 5);
    cr_assert_str_eq(m->lines[1].cert[0], "/etc/certs/b.pem");
    cr_assert_str_eq(m->lines[1].key[0], "/etc/keys/b.key");
    tls_multicert_free(m);
}

// dest_port returns the port (host order) of a parsed destination.
static int dest_port(const struct tls_multicert_line *l)
{
    if (l->dest.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&l->dest)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)&l->dest)->sin6_port);
}

Test(tls_multicert, dest_ip_forms)
{
    struct tls_multicert *m = parse("dest_ip=[::1] ssl_cert_name=a.pem\n"
                                    "dest_ip=::1 ssl_cert_name=a.pem\n"
                                    "dest_ip=[2001:db8::5]:8443 ssl_cert_name=a.pem\n"
                                    "dest_ip=192.0.2.7:443 ssl_cert_name=a.pem\n"
                                    "dest_ip=* ssl_cert_name=a.pem\n");
    cr_assert_not_null(m);
    cr_assert_eq(m->n, 5);
    struct in6_addr lo6 = IN6ADDR_LOOPBACK_INIT;
    for (int i = 0; i < 2; i++) {
        const struct tls_multicert_line *l = &m->lines[i];
        cr_assert_eq(l->dest.ss_family, AF_INET6);
        cr_assert_not(l->dest_has_port);
        cr_assert_eq(memcmp(&((const struct sockaddr_in6 *)&l->dest)->sin6_addr, &lo6, 16), 0);
    }
    cr_assert_eq(m->lines[2].dest.ss_family, AF_INET6);
    cr_assert(m->lines[2].dest_has_port);
    cr_assert_eq(dest_port(&m->lines[2]), 8443);
    cr_assert_eq(m->lines[3].dest.ss_family, AF_INET);
    cr_assert(m->lines[3].dest_has_port);
    cr_assert_eq(dest_port(&m->lines[3]), 443);
    cr_assert(m->lines[4].has_dest && m->lines[4].dest_any);
    tls_multicert_free(m);
}

Test(tls_multicert, comma_lists_are_parallel)
{
    struct tls_multicert *m =
        parse("ssl_cert_name=ec.pem,rsa.pem ssl_key_name=ec.key,rsa.key ssl_ca_name=int.pem\n"
              "ssl_cert_name=ec.pem,rsa.pem ssl_ca_name=int-ec.pem,int-rsa.pem\n");
    cr_assert_not_null(m);
    const struct tls_multicert_line *l = &m->lines[0];
    cr_assert_eq(l->n_certs, 2);
    cr_assert_str_eq(l->cert[1], "/etc/certs/rsa.pem");
    cr_assert_str_eq(l->key[0], "/etc/keys/ec.key");
    cr_assert_str_eq(l->key[1], "/etc/keys/rsa.key");
    cr_assert_str_eq(l->ca[0], "/etc/certs/int.pem");
    cr_assert_str_eq(l->ca[1], "/etc/certs/int.pem"); // one CA file serves both chains
    l = &m->lines[1];
    cr_assert_null(l->key[0]);
    cr_assert_null(l->key[1]);
    cr_assert_str_eq(l->ca[0], "/etc/certs/int-ec.pem");
    cr_assert_str_eq(l->ca[1], "/etc/certs/int-rsa.pem");
    tls_multicert_free(m);
}

Test(tls_multicert, relative_and_absolute_paths)
{
    const char *text = "ssl_cert_name=/abs/a.pem ssl_key_name=rel/a.key ssl_ca_name=/abs/ca.pem\n";
    struct tls_multicert *m = parse(text);
    cr_assert_not_null(m);
    cr_assert_str_eq(m->lines[0].cert[0], "/abs/a.pem");
    cr_assert_str_eq(m->lines[0].key[0], "/etc/keys/rel/a.key");
    cr_assert_str_eq(m->lines[0].ca[0], "/abs/ca.pem");
    tls_multicert_free(m);
    // A trailing slash on the directory is not doubled; no directory keeps the name as written.
    m = tls_multicert_parse(text, strlen(text), "x", "/c/", NULL, &err);
    cr_assert_not_null(m);
    cr_assert_str_eq(m->lines[0].key[0], "rel/a.key");
    tls_multicert_free(m);
    m = tls_multicert_parse("ssl_cert_name=a.pem", 19, "x", "/c/", NULL, &err);
    cr_assert_not_null(m);
    cr_assert_str_eq(m->lines[0].cert[0], "/c/a.pem");
    tls_multicert_free(m);
}

Test(tls_multicert, key_uris_kept_verbatim)
{
    struct tls_multicert *m =
        parse("ssl_cert_name=a.pem,b.pem,c.pem "
              "ssl_key_name=\"pkcs11:token=t;object=k?pin-value=1234,keyless://signer:9000/k,"
              "keyless:k2\"\n");
    cr_assert_not_null(m);
    cr_assert_str_eq(m->lines[0].key[0], "pkcs11:token=t;object=k?pin-value=1234");
    cr_assert_str_eq(m->lines[0].key[1], "keyless://signer:9000/k");
    cr_assert_str_eq(m->lines[0].key[2], "keyless:k2");
    tls_multicert_free(m);
}

Test(tls_multicert, unknown_tag_is_a_warning_with_line)
{
    struct tls_multicert *m = parse("\nssl_cert_name=a.pem ssl_ocsp_name=o.der\n");
    cr_assert_not_null(m);
    cr_assert_eq(m->n, 1);
    cr_assert_eq(err.errors, 0);
    cr_assert_eq(err.warnings, 1);
    cr_assert(has_entry(true, 2, "ssl_ocsp_name"));
    cr_assert_not(strstr(err.entry[0].reason, "o.der"), "the value is never quoted");
    tls_multicert_free(m);
}

Test(tls_multicert, bad_dest_ip_names_line)
{
    const char *bad[] = {"dest_ip=1.2.3",        "dest_ip=[::1",          "dest_ip=[1.2.3.4]",
                         "dest_ip=1.2.3.4:0",    "dest_ip=1.2.3.4:70000", "dest_ip=[::1]x",
                         "dest_ip=host.example", "dest_ip=*:443"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        core_err_init(&err);
        snprintf(text, sizeof(text), "# c\n%s ssl_cert_name=a.pem\n", bad[i]);
        cr_assert_null(parse(text), "%s accepted", bad[i]);
        cr_assert_eq(err.errors, 1, "%s", bad[i]);
        cr_assert(has_entry(false, 2, "dest_ip"), "%s", bad[i]);
    }
}

Test(tls_multicert, cert_and_key_count_mismatch)
{
    cr_assert_null(parse("ssl_cert_name=a.pem ssl_key_name=a.key\n"
                         "ssl_cert_name=a.pem,b.pem ssl_key_name=a.key\n"));
    cr_assert_eq(err.errors, 1);
    cr_assert(has_entry(false, 2, "ssl_key_name names 1 keys"));
}

Test(tls_multicert, missing_cert_name)
{
    cr_assert_null(parse("dest_ip=1.2.3.4 ssl_key_name=a.key\n"));
    cr_assert(has_entry(false, 1, "ssl_cert_name is missing"));
}

Test(tls_multicert, bad_ticket_options)
{
    cr_assert_null(parse("ssl_cert_name=a.pem ssl_ticket_number=-1\n"
                         "ssl_cert_name=a.pem ssl_ticket_number=3x\n"
                         "ssl_cert_name=a.pem ssl_ticket_enabled=2\n"
                         "ssl_cert_name=a.pem ssl_ticket_number=99999999999\n"));
    cr_assert_eq(err.errors, 4);
    cr_assert(has_entry(false, 1, "ssl_ticket_number '-1'"));
    cr_assert(has_entry(false, 2, "ssl_ticket_number '3x'"));
    cr_assert(has_entry(false, 3, "ssl_ticket_enabled '2'"));
    cr_assert(has_entry(false, 4, "ssl_ticket_number"));
}

Test(tls_multicert, bad_key_dialog)
{
    cr_assert_null(parse("ssl_cert_name=a.pem ssl_key_dialog=\"exec:/bin/pass\"\n"));
    cr_assert(has_entry(false, 1, "ssl_key_dialog"));
}

Test(tls_multicert, syntax_errors)
{
    cr_assert_null(parse("ssl_cert_name=\"a.pem\n"               // 1: unterminated
                         "ssl_cert_name\n"                       // 2: no '='
                         "ssl_cert_name=\n"                      // 3: empty
                         "ssl_cert_name=a.pem ssl_cert_name=b\n" // 4: twice
                         "ssl_cert_name=\"a\"b\n"                // 5: text after quote
                         "ssl_cert_name=a,,b\n"                  // 6: empty list element
                         "ssl_cert_name=a,b,c,d,e\n"             // 7: too many chains
                         "action=drop ssl_cert_name=a\n"         // 8: unknown action
                         "action=tunnel\n"));                    // 9: tunnel without dest_ip
    cr_assert_eq(err.errors, 9);
    cr_assert(has_entry(false, 1, "unterminated"));
    cr_assert(has_entry(false, 2, "expected tag=value"));
    cr_assert(has_entry(false, 3, "empty value"));
    cr_assert(has_entry(false, 4, "given twice"));
    cr_assert(has_entry(false, 5, "closing quote"));
    cr_assert(has_entry(false, 6, "empty name"));
    cr_assert(has_entry(false, 7, "more than 4"));
    cr_assert(has_entry(false, 8, "action 'drop'"));
    cr_assert(has_entry(false, 9, "needs dest_ip"));
}

Test(tls_multicert, several_errors_all_reported)
{
    cr_assert_null(parse("dest_ip=nope ssl_cert_name=a.pem\n"
                         "ssl_cert_name=ok.pem\n"
                         "ssl_cert_name=a.pem,b.pem ssl_key_name=a.key\n"
                         "dest_ip=1.2.3.4\n"
                         "ssl_cert_name=a.pem ssl_ticket_number=x ssl_key_dialog=exec:/x\n"));
    cr_assert_eq(err.errors, 5);
    cr_assert(has_entry(false, 1, "dest_ip"));
    cr_assert(has_entry(false, 3, "ssl_key_name"));
    cr_assert(has_entry(false, 4, "ssl_cert_name is missing"));
    cr_assert(has_entry(false, 5, "ssl_ticket_number"));
    cr_assert(has_entry(false, 5, "ssl_key_dialog"));
}

Test(tls_multicert, tunnel_ignores_certificates)
{
    struct tls_multicert *m = parse("dest_ip=* action=TUNNEL ssl_cert_name=a.pem\n");
    cr_assert_not_null(m);
    cr_assert(m->lines[0].tunnel);
    cr_assert_eq(m->lines[0].n_certs, 0);
    cr_assert_null(m->lines[0].cert[0]);
    cr_assert(has_entry(true, 1, "ignored"));
    tls_multicert_free(m);
}

Test(tls_multicert, load_reads_a_file_and_reports_a_missing_one)
{
    char path[] = "/tmp/tlsedge-multicert-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *text = "dest_ip=* ssl_cert_name=d.pem\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct tls_multicert *m = tls_multicert_load(path, "/c", "/k", &err);
    unlink(path);
    cr_assert_not_null(m);
    cr_assert_str_eq(m->path, path);
    cr_assert_eq(m->n, 1);
    cr_assert_str_eq(m->lines[0].cert[0], "/c/d.pem");
    tls_multicert_free(m);
    cr_assert_null(tls_multicert_load("/nonexistent/ssl_multicert.config", NULL, NULL, &err));
    cr_assert_eq(err.errors, 1);
    cr_assert_str_eq(err.entry[0].file, "/nonexistent/ssl_multicert.config");
    cr_assert(strstr(err.entry[0].reason, "cannot read"));
}

Test(tls_multicert, empty_file_has_no_rules)
{
    struct tls_multicert *m = parse("# nothing here\n");
    cr_assert_not_null(m);
    cr_assert_eq(m->n, 0);
    tls_multicert_free(m);
    tls_multicert_free(NULL);
}
