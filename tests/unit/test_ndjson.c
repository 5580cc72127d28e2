/* test_ndjson.c: the writer produces valid JSON for every input (escapes, invalid
 * UTF-8, non-finite numbers) and the reader reports bad lines with file:line. */
#include "check.h"
#include "formats/ndjson.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

int main(void)
{
    NdLine l = { 0 };
    nd_begin(&l);
    nd_str(&l, "kind", "train");
    nd_int(&l, "step", -12);
    nd_f64(&l, "loss", 0.1);
    nd_f32(&l, "lr", 3e-4f);
    nd_f64(&l, "nan", NAN);
    nd_f64(&l, "inf", INFINITY);
    nd_f64(&l, "ninf", -INFINITY);
    nd_str(&l, "weird", "q\"b\\s\n\t\x01\x7f" "\xff" "\xc3\xa9" "\xed\xa0\x80");
    nd_arr_begin(&l, "loads");
    nd_elem_int(&l, 3);
    nd_elem_int(&l, 4);
    nd_arr_end(&l);
    nd_obj_begin(&l, "sub");
    nd_bool(&l, "ok", true);
    nd_null(&l, "none");
    nd_obj_end(&l);
    const char *line = nd_end(&l);
    CHECK(line[strlen(line) - 1] == '\n');
    cJSON *j = cJSON_Parse(line);
    CHECK(j != NULL);
    if (j) {
        CHECK_STR(cJSON_GetObjectItem(j, "kind")->valuestring, "train");
        CHECK_EQ_INT(cJSON_GetObjectItem(j, "step")->valuedouble, -12);
        CHECK(cJSON_GetObjectItem(j, "loss")->valuedouble == 0.1);
        CHECK((float)cJSON_GetObjectItem(j, "lr")->valuedouble == 3e-4f);
        CHECK_STR(cJSON_GetObjectItem(j, "nan")->valuestring, "NaN");
        CHECK_STR(cJSON_GetObjectItem(j, "inf")->valuestring, "Infinity");
        CHECK_STR(cJSON_GetObjectItem(j, "ninf")->valuestring, "-Infinity");
        /* invalid bytes (0xff, a surrogate) became U+FFFD, valid é kept */
        CHECK_STR(cJSON_GetObjectItem(j, "weird")->valuestring,
                  "q\"b\\s\n\t\x01\x7f" "\xef\xbf\xbd" "\xc3\xa9" "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
        CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "loads")), 2);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "sub"), "ok")));
        cJSON_Delete(j);
    }
    nd_free(&l);

    /* Reader: good line, bad JSON, non-object, blank, truncated last line. */
    char path[] = "/tmp/nmoe-test-ndjson-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *text = "{\"kind\":\"a\",\"step\":1}\n{bad\n[1,2]\n\n{\"kind\":\"b\",\"step\":2}\n{\"kind\":\"c\"";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    NdReader r;
    nd_reader_open(&r, path, false);
    cJSON *o;
    char err[256];
    CHECK_EQ_INT(nd_reader_next(&r, &o, err, sizeof err), ND_OK);
    cJSON_Delete(o);
    CHECK_EQ_INT(nd_reader_next(&r, &o, err, sizeof err), ND_BAD);
    CHECK(strstr(err, ":2: not valid JSON") != NULL);
    CHECK_EQ_INT(nd_reader_next(&r, &o, err, sizeof err), ND_BAD);
    CHECK(strstr(err, ":3: not a JSON object") != NULL);
    CHECK_EQ_INT(nd_reader_next(&r, &o, err, sizeof err), ND_OK);
    CHECK_STR(cJSON_GetObjectItem(o, "kind")->valuestring, "b");
    cJSON_Delete(o);
    CHECK_EQ_INT(nd_reader_next(&r, &o, err, sizeof err), ND_BAD);
    CHECK(strstr(err, ":6: truncated last line") != NULL);
    CHECK_EQ_INT(nd_reader_next(&r, &o, err, sizeof err), ND_EOF);
    nd_reader_close(&r);
    unlink(path);
    return check_report("test_ndjson");
}
