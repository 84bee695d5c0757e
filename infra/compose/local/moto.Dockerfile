# moto's S3 server, standing in for MinIO where Docker Hub is out of reach. Its image also creates the
# buckets (boto3 comes with moto). ca-bundle.crt beside this file (optional, not committed): the CA
# bundle pip trusts, where HTTPS goes through an intercepting proxy.
ARG BASE_IMAGE=mtstrec-local/debian:bookworm
FROM ${BASE_IMAGE}
COPY . /tmp/ctx/
RUN set -eu; \
    if [ -f /tmp/ctx/ca-bundle.crt ]; then export PIP_CERT=/tmp/ctx/ca-bundle.crt; fi; \
    python3 -m venv /opt/moto \
    && /opt/moto/bin/pip install --no-cache-dir 'moto[server]==5.2.5' \
    && rm -rf /tmp/ctx
ENV PATH=/opt/moto/bin:$PATH
CMD ["moto_server", "-H", "0.0.0.0", "-p", "9000"]
