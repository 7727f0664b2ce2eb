"""Running one accepted job: queue → engine → files → database → Discord → database.

A job reaches :class:`JobRunner` already charged (its row is ``queued``). Whatever happens next ends it
exactly once: ``succeeded`` with its images, ``failed`` with a short reason, or ``cancelled``; the DB layer
refunds the last two. At shutdown the running job is neither: it is left for :meth:`bot.db.JobStore.requeue`.

Results go through an outbox: the images are stored and recorded (``succeeded``, ready to post) before
anything is sent, so a button pressed the moment the grid appears finds a finished job; then the result is
posted, then its message is recorded (which commits the charge). A result Discord refuses is failed and
refunded; one whose recording fails is never posted. Start-up posts results left ready
(:mod:`bot.imagine._recovery`).

A cancel wins in every window before the result is recorded: it ends the row first (``cancelled``, refunded),
then stops whatever is under way; each step of :meth:`JobRunner.run` checks the row or the flag before it
goes on, and recording the result succeeds only for a job still ``running``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass, field

import discord

from bot.config import Settings
from bot.db import ImageRow, JobRecord, JobStore
from bot.imagine import _dm, _render, _text, _tools, _views
from bot.imagine._pusher import StatePusher
from bot.imagine._requests import build_request
from bot.queue import RUNNING, JobQueue, QueueClosed, QueuedJob, Slot
from bot.replies import Attachment, StatusMessage
from engine.api import Engine, GenerationResult, Progress, Request
from engine.errors import Cancelled, EngineError, WorkerLost

log = logging.getLogger(__name__)

DISCORD_FAILED = "Discord did not accept the result; nothing was charged. Please try again."
PRIVATE_UNDELIVERABLE = (
    "Your private result could not be shown: Discord lets the bot show a private reply only within "
    "15 minutes of the command. Nothing was charged; please try again."
)
INTERNAL_ERROR = "Something went wrong on our side; it has been logged and nothing was charged."
SOURCE_MISSING = "The image this job starts from is no longer available."
POSITIONS_SHOWN_EXACTLY = 10
WORKER_LOST_ATTEMPTS = 2
"""A job whose worker dies is run once more (the engine sends it to another worker), then fails, refunded."""


@dataclass(eq=False)
class JobContext:
    """One accepted job and the message it lives in."""

    job: JobRecord
    status: StatusMessage
    size_limit: int = _render.DEFAULT_SIZE_LIMIT
    source_path: str | None = None
    pusher: StatePusher | None = field(default=None, repr=False)
    started: bool = False
    """The queue handed the job to :meth:`JobRunner.run`: from then on the runner shows how it ends."""
    cancelled: bool = False
    """Its row was cancelled (and refunded) while it was under way; the runner stops at its next step."""
    started_at: float = field(default_factory=time.perf_counter)

    @property
    def head(self) -> str:
        params = self.job.params
        return _text.headline(
            self.job.kind,
            self.job.prompt,
            self.job.user_id,
            tile=self.job.parent_tile,
            strength=params.get("strength"),
            tool=params.get("mode") or params.get("direction"),
        )


def result_view(
    job: JobRecord, *, tiles: int, img2img: bool = True, square: bool = True, edits: bool = True
) -> discord.ui.View:
    """The buttons under a result: the grid's U/V/🔄 rows (U/V only when the model takes image-to-image),
    or the tools under an upscale (Make Square only under a non-square one; the inpainting tools only for
    a model that can inpaint)."""
    if job.grid_path is not None:
        return _views.grid(job.id, tiles=tiles, img2img=img2img)
    return _views.upscale(job.id, img2img=img2img, square=square, edits=edits)


class JobRunner:
    def __init__(
        self,
        *,
        store: JobStore,
        engine: Engine,
        queue: JobQueue,
        settings: Settings,
    ) -> None:
        self.store = store
        self.engine = engine
        self.queue = queue
        self.settings = settings
        self.active: dict[int, JobContext] = {}
        self._deliveries: set[asyncio.Task[None]] = set()

    # -- accepting -------------------------------------------------------------------------------------------

    async def submit(self, slot: Slot, ctx: JobContext, *, resumed: bool = False) -> int | None:
        """Put an accepted job in the queue and show where it stands; returns its position, or ``None`` if
        the queue closed meanwhile (shutdown): the job is shown paused and start-up recovery resumes it."""
        job = ctx.job
        ctx.pusher = StatePusher(ctx.status, interval_s=self.settings.progress_interval_s)
        self.active[job.id] = ctx
        queued = QueuedJob(
            job_id=job.id,
            user_id=job.user_id,
            run=lambda: self.run(ctx),
            on_position=lambda position: self._on_position(ctx, position),
        )
        try:
            position = slot.submit(queued)
        except QueueClosed:  # shut down after the job was accepted: its row stays queued for the next start
            del self.active[job.id]
            await ctx.pusher.close()
            await ctx.status.show(_text.interrupted(ctx.head))
            await self._remember_message(ctx)
            return None
        if position != RUNNING:
            head = ctx.head
            text = _text.resumed(head) if resumed else _text.waiting(head, position)
            try:  # the job is queued whatever happens to this edit
                await ctx.status.show(text, view=_views.cancel(job.id))
            except Exception:
                log.exception("job %s: could not show its place in the queue", job.id)
            await self._remember_message(ctx)
        return position

    def _on_position(self, ctx: JobContext, position: int) -> None:
        # Every start moves every waiting job; near the front each step is shown, further back every fifth,
        # so a long queue does not cost an edit per waiting job per start.
        shown = position <= POSITIONS_SHOWN_EXACTLY or position % 5 == 0
        if position != RUNNING and shown and ctx.pusher is not None:
            ctx.pusher.push(_text.waiting(ctx.head, position), view=_views.cancel(ctx.job.id))

    async def _remember_message(self, ctx: JobContext) -> None:
        if ctx.status.message_id is not None and ctx.status.message_id != ctx.job.message_id:
            try:
                await self.store.set_message(ctx.job.id, ctx.status.message_id)
            except Exception:
                log.exception("job %s: could not store its message id", ctx.job.id)

    # -- running ---------------------------------------------------------------------------------------------

    async def run(self, ctx: JobContext) -> None:
        """Render the job, then hand its delivery to a task of its own: the queue moves on to the next job
        while this one's result is encoded, uploaded and recorded."""
        job = ctx.job
        ctx.started = True
        handed_over = False
        try:
            if not await self.store.mark_running(job.id):
                log.info("job %s was no longer queued; skipping it", job.id)
                current = await self.store.get_job(job.id)
                if ctx.cancelled or (current is not None and current.status == "cancelled"):
                    await self._cancelled(ctx, mark=False)
                return
            log.info("job %s (%s) for user %s started", job.id, job.kind, job.user_id)
            rendered = await self._run(ctx)
            if rendered is not None and ctx.cancelled:  # cancelled as the engine finished
                await self._cancelled(ctx)
            elif rendered is not None:
                task = asyncio.create_task(
                    self._deliver_then_forget(ctx, *rendered), name=f"deliver-{job.id}"
                )
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)
                handed_over = True
        except Exception:  # e.g. the database failing: the job must still end, refunded, with a message
            log.exception("job %s: unexpected error", job.id)
            await self._end_after_error(ctx)
        finally:
            if not handed_over:
                await self._forget(ctx)

    async def _deliver_then_forget(self, ctx: JobContext, result: GenerationResult, engine_s: float) -> None:
        try:
            await self._deliver(ctx, result, engine_s)
        except Exception:
            log.exception("job %s: delivering the result failed", ctx.job.id)
        finally:
            await self._forget(ctx)

    async def _forget(self, ctx: JobContext) -> None:
        self.active.pop(ctx.job.id, None)
        if ctx.pusher is not None:
            await ctx.pusher.close()

    async def _run(self, ctx: JobContext) -> tuple[GenerationResult, float] | None:
        """The engine's part; ``None`` if the job ended here (failed, cancelled or interrupted)."""
        job, head = ctx.job, ctx.head
        assert ctx.pusher is not None
        ctx.pusher.push(_text.progress(head, 0.0), view=_views.cancel(job.id))
        try:
            source = None
            if ctx.source_path is not None:
                try:
                    source = await asyncio.to_thread(_render.read_image, ctx.source_path)
                except OSError:
                    await self._fail(ctx, SOURCE_MISSING)
                    return None
            request = build_request(job.kind, job.params, source)
            if ctx.cancelled:  # cancelled before the engine knew the job: its cancel reached nobody
                raise Cancelled()
            engine_started = time.perf_counter()
            result = await self._render(ctx, request)
            engine_s = time.perf_counter() - engine_started
        except Cancelled:
            if self.queue.closed and not ctx.cancelled:
                log.info("job %s interrupted by shutdown; it will be requeued", job.id)
                await ctx.pusher.close()
                await ctx.status.show(_text.interrupted(head))
                return None
            await self._cancelled(ctx)
            return None
        except EngineError as error:
            log.warning("job %s failed in the engine: %s", job.id, error.__class__.__name__)
            await self._fail(ctx, str(error))
            return None
        except Exception:
            log.exception("job %s: unexpected error", job.id)
            await self._fail(ctx, INTERNAL_ERROR)
            return None
        return result, engine_s

    async def _render(self, ctx: JobContext, request: Request) -> GenerationResult:
        """The engine's run, once more if the worker running it was lost (a pool of workers replaces it);
        the job was charged once and is delivered once either way."""
        job = ctx.job
        for attempt in range(1, WORKER_LOST_ATTEMPTS + 1):
            try:
                return await self.engine.run(
                    request, job_id=str(job.id), on_progress=lambda p: self._on_progress(ctx, p)
                )
            except WorkerLost:
                if attempt == WORKER_LOST_ATTEMPTS:
                    raise
                if ctx.cancelled:  # cancelled while its worker died: nothing left to stop
                    raise Cancelled() from None
                log.warning("job %s: its worker was lost; running it again", job.id)
                if ctx.pusher is not None:
                    ctx.pusher.push(_text.progress(ctx.head, 0.0), view=_views.cancel(job.id))
        raise AssertionError("unreachable")

    def img2img(self, model: str) -> bool:
        """Whether ``model`` takes variations and upscales (its buttons are shown only then)."""
        return all(info.capabilities.img2img for info in self.engine.models() if info.name == model)

    def _on_progress(self, ctx: JobContext, progress: Progress) -> None:
        if ctx.pusher is None:
            return
        attachments: list[Attachment] = []
        if progress.preview:
            attachments.append(("preview.jpg", progress.preview))
        ctx.pusher.push(
            _text.progress(ctx.head, progress.fraction),
            attachments=attachments,
            view=_views.cancel(ctx.job.id),
        )

    async def _deliver(self, ctx: JobContext, result: GenerationResult, engine_s: float) -> None:
        """Store, record, post, record the message: a result is never posted before it is recorded."""
        job = ctx.job
        try:
            if result.grid is not None:
                encode = asyncio.to_thread(
                    _render.attachment, result.grid, ctx.size_limit, name=f"grid-{job.id}"
                )
            else:
                encode = asyncio.to_thread(
                    _render.attachment, result.images[0], ctx.size_limit, name=f"image-{job.id}"
                )
            # Full-size PNGs to disk and the attachment, side by side off the loop.
            saved, attachment = await asyncio.gather(
                asyncio.to_thread(_render.save_result, self.settings.images_dir, job.id, result), encode
            )
        except Exception:
            log.exception("job %s: could not store or encode the result", job.id)
            await self._end_unrecorded(ctx)
            return
        rows = [ImageRow(i.tile, i.seed, i.path, i.width, i.height) for i in saved.images]
        try:
            recorded = await self.store.mark_succeeded(
                job.id,
                images=rows,
                grid_path=saved.grid_path,
                seeds=list(result.seeds),
                model=result.model,
                message_id=ctx.status.message_id,
            )
        except Exception:
            log.exception("job %s: the result could not be recorded; it is not posted", job.id)
            await self._discard(job.id)
            await self._end_unrecorded(ctx)
            return
        if not recorded:  # cancelled while it was being stored
            log.info("job %s had ended when its result was ready; it is not posted", job.id)
            await self._discard(job.id)
            await self._cancelled(ctx, mark=False)
            return
        assert ctx.pusher is not None
        await ctx.pusher.close()
        record = dataclasses.replace(
            job, status="succeeded", seeds=list(result.seeds), model=result.model, grid_path=saved.grid_path
        )
        square = not rows or rows[0].width == rows[0].height
        view = result_view(
            record,
            tiles=len(rows),
            img2img=self.img2img(result.model),
            square=square,
            edits=_tools.can_edit(self.engine, result.model),
        )
        if await self.post_result(record, ctx.status, attachment, view=view, head=ctx.head):
            total_s = time.perf_counter() - ctx.started_at
            log.info("job %s posted in %.2f s (engine %.2f s)", job.id, total_s, engine_s)

    async def post_result(
        self,
        job: JobRecord,
        status: StatusMessage,
        attachment: Attachment,
        *,
        view: discord.ui.View,
        head: str,
    ) -> bool:
        """Post a recorded result, then record its message (committing the charge). A result Discord does
        not take is failed and refunded; one posted whose message cannot be recorded stays ready, and the
        next start edits the same message again (never a second post when the message is known)."""
        try:
            delivered = await status.finish(head, attachments=[attachment], view=view)
        except Exception as error:  # a network error, not an HTTP answer: the result may be on Discord
            if self.queue.closed:
                log.warning("job %s: posting was interrupted by shutdown; the next start posts it", job.id)
                return False
            log.warning("job %s: posting the result failed (%r); looking for it", job.id, error)
            delivered = await self._found_posted(job, status)
            if not delivered:
                log.error("job %s: posting the result failed", job.id, exc_info=error)
        if not delivered:  # a private result is never posted publicly instead: failed and refunded
            reason = PRIVATE_UNDELIVERABLE if status.private else DISCORD_FAILED
            if await self.store.mark_undeliverable(job.id, reason):
                await self._show_safely(status, _text.failed(head, reason))
                if status.private:  # its ephemeral message cannot say so: the owner is told in a DM
                    why = _dm.EXPIRED if status.token_dead else _dm.REFUSED
                    await _dm.tell_owner(status.client, job, why)
            return False
        try:
            if not await self.store.mark_posted(job.id, status.message_id):
                log.warning("job %s was already posted", job.id)
        except Exception:
            log.exception("job %s: posted, but its message could not be recorded", job.id)
        return True

    async def _found_posted(self, job: JobRecord, status: StatusMessage) -> bool:
        """After a network error the result may have reached Discord all the same: look for it in the channel
        (as a restart does) rather than fail a result whose buttons are already there."""
        from bot.imagine._recovery import find_posted

        try:
            message_id = await find_posted(status.client, job)
        except Exception:
            log.exception("job %s: could not look for its result in the channel", job.id)
            return False
        if message_id is None:
            return False
        log.info("job %s: its result reached Discord despite the error (message %s)", job.id, message_id)
        status.message_id = message_id
        return True

    async def _discard(self, job_id: int) -> None:
        try:
            await asyncio.to_thread(_render.discard_result, self.settings.images_dir, job_id)
        except Exception:
            log.exception("job %s: could not remove the files of its unrecorded result", job_id)

    async def _show_safely(self, status: StatusMessage, text: str) -> None:
        try:
            await status.finish(text)
        except Exception:
            log.exception("could not show a job's final state")

    async def _end_unrecorded(self, ctx: JobContext) -> None:
        """The result could not be stored or recorded: nothing was posted; fail and refund the job (unless
        it was cancelled meanwhile) and say so. If the database is down this too may fail: the row then
        stays ``running`` and the next start renders it again (it was never posted)."""
        if ctx.cancelled:
            await self._cancelled(ctx, mark=False)
            return
        await self._end_after_error(ctx)

    async def _fail(self, ctx: JobContext, reason: str, *, show: bool = True) -> None:
        if ctx.cancelled:
            await self._cancelled(ctx, mark=False)
            return
        if ctx.pusher is not None:
            await ctx.pusher.close()
        await self.store.mark_failed(ctx.job.id, reason)
        if show:
            await ctx.status.finish(_text.failed(ctx.head, reason))

    async def _end_after_error(self, ctx: JobContext) -> None:
        """Fail (and refund) a job hit by an unexpected error, unless it already ended; best effort: if even
        that fails, the row stays unfinished and the next start resumes or fails it."""
        try:
            if ctx.pusher is not None:
                await ctx.pusher.close()
            if await self.store.mark_failed(ctx.job.id, INTERNAL_ERROR):
                await ctx.status.finish(_text.failed(ctx.head, INTERNAL_ERROR))
        except Exception:
            log.exception("job %s: could not be ended after an error", ctx.job.id)

    async def _cancelled(self, ctx: JobContext, *, mark: bool = True) -> None:
        if ctx.pusher is not None:
            await ctx.pusher.close()
        if mark and not ctx.cancelled:
            await self.store.mark_cancelled(ctx.job.id)
        await ctx.status.finish(_text.cancelled(ctx.head))

    async def close(self, grace_s: float = 10.0) -> None:
        """Let results being delivered arrive, then stop the status updates of jobs still waiting (their
        rows stay queued for the next start)."""
        if self._deliveries:
            await asyncio.wait(set(self._deliveries), timeout=grace_s)
        for ctx in list(self.active.values()):
            if ctx.pusher is not None:
                await ctx.pusher.close(wait_s=2.0)
        self.active.clear()

    # -- cancelling ------------------------------------------------------------------------------------------

    async def cancel(self, job: JobRecord) -> str:
        """Cancel ``job`` in whatever window it is (waiting, starting, in the engine, being stored); returns
        what the user is told. The row is cancelled (and refunded) first, so the job cannot be recorded as
        succeeded afterwards; then whatever is under way is stopped."""
        if not await self.store.mark_cancelled(job.id):
            return f"Job #{job.id} has already finished."
        ctx = self.active.get(job.id)
        if ctx is not None:
            ctx.cancelled = True
        outcome = self.queue.cancel(job.id)  # a waiting job leaves the queue; a running one is told to stop
        if ctx is not None and ctx.started:
            self.engine.cancel(str(job.id))  # the runner shows the end at its next step
            return f"Cancelling job #{job.id}; it stops within a step. Nothing was charged."
        if outcome is None and ctx is None:
            return f"Cancelled job #{job.id}; nothing was charged."
        ctx = self.active.pop(job.id, None)
        if ctx is not None:
            if ctx.pusher is not None:
                await ctx.pusher.close()
            await ctx.status.finish(_text.cancelled(ctx.head))
        return f"Cancelled job #{job.id}; nothing was charged."
