"""NomosDA cryptography: Reed–Solomon ×2 over BLS12-381 Fr, KZG row commitments and combined ("BDFG")
column proofs, bit for bit as the Nomos specification's Python reference (nomos-specs ``da/``).

Shared by the reference node (dispersal, verification, sampling) and the framework (retrievability
checks), which must not import each other; pure library, no I/O except the parameters file.

Module map:

* ``nomos_da.encoder``  — ``encode(data, num_columns, params) -> EncodedBlob`` (``.shares``, ``.blob_id``,
  ``.rows_commitments``, ``.original_size``); ``chunkify``, ``row_bytes``.
* ``nomos_da.verifier`` — ``verify_share(share, params, num_columns=None) -> bool``, ``check_share`` (the
  reason), ``reconstruct(shares, original_size, num_columns=None) -> bytes``.
* ``nomos_da.share``    — ``Share`` (``to_json`` / ``from_json``, strict), ``ShareFormatError``.
* ``nomos_da.params``   — the INSECURE deterministic test setup (τ = 1987): ``generate_params(path)``,
  ``load_params(path)``, ``resolve_params_path(default)``, ``spec_setup()`` (in memory), ``ParamsError``.
* ``nomos_da.kzg``      — commit / prove / verify, point (de)compression.
* ``nomos_da.bdfg``     — Fiat–Shamir challenge, blob id, row combination.
* ``nomos_da.rs``       — the encoding domain (powers of ω_4096), ×2 extension, recovery from any half.
* ``nomos_da.poly``, ``nomos_da.field`` — polynomials, interpolation matrices, Fr, roots of unity, FFT.

docs/data-availability.md ("Encoding") describes the scheme and where the Rust node differs.
"""
