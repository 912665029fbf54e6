import { Observable, type Observer, type Subscriber, type Subscription, type TeardownLogic } from 'rxjs';

/**
 * An Observable whose direct subscribers may throw: an error thrown by a subscriber's `next`,
 * `error` or `complete` is caught and handed to `onSubscriberError` instead of RxJS's global
 * unhandled-error path (which would throw it in a new macrotask and crash Node). The source,
 * the run that produced the event and every other subscriber carry on.
 *
 * Operators (`pipe`) return plain Observables: put your own `catchError` / try-catch there.
 *
 * @example
 * const events$ = new GuardedObservable<number>((s) => { s.next(1); }, (error) => log(error));
 * events$.subscribe(() => { throw new Error('bug in a UI'); }); // logged, nothing else disturbed
 */
export class GuardedObservable<T> extends Observable<T> {
  readonly #onSubscriberError: (error: unknown) => void;

  constructor(subscribe: (this: Observable<T>, subscriber: Subscriber<T>) => TeardownLogic, onSubscriberError: (error: unknown) => void) {
    super(subscribe);
    this.#onSubscriberError = onSubscriberError;
  }

  override subscribe(observerOrNext?: Partial<Observer<T>> | ((value: T) => void) | null): Subscription {
    if (observerOrNext === null || observerOrNext === undefined) return super.subscribe();
    const report = this.#onSubscriberError;
    const observer: Partial<Observer<T>> = typeof observerOrNext === 'function' ? { next: observerOrNext } : observerOrNext;
    const guarded: Partial<Observer<T>> = {};
    if (observer.next) {
      const next = observer.next.bind(observer);
      guarded.next = (value) => {
        try {
          next(value);
        } catch (error) {
          report(error);
        }
      };
    }
    const error = observer.error?.bind(observer);
    guarded.error = (err: unknown) => {
      if (!error) return report(err);
      try {
        error(err);
      } catch (thrown) {
        report(thrown);
      }
    };
    if (observer.complete) {
      const complete = observer.complete.bind(observer);
      guarded.complete = () => {
        try {
          complete();
        } catch (thrown) {
          report(thrown);
        }
      };
    }
    return super.subscribe(guarded);
  }
}
