"""The review app a person opens from an approval link: one server-rendered page per request (the
seven phases with live progress, each gate's real preview, the answers), its images, thumbnails,
lettered page previews and the CJK web font it is set in. `mangaflow.service.review` drives it."""
